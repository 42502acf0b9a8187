import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { OutboundError } from '../../../lib/http/outbound.ts';
import { count, identifier, idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { PUBLISHER_API } from '../../../lib/wso2/management-api.ts';
import { gatewayEnvironments } from '../admin/environments.ts';
import { callerOf, requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { badRequest, notFound, parseBody, readMultipart, wholeList } from '../request.ts';
import { applyUpdate, importPropertiesSchema } from './api-input.ts';
import {
  type ApiModel,
  type ApiRecord,
  apiDto,
  apiInfoDto,
  contextTemplateOf,
  displayContext,
} from './api-model.ts';
import { ApiStore } from './api-store.ts';
import { importDefinition, parseDefinitionText } from './definition.ts';
import { lifecycleStateDto, nextLifecycleState } from './lifecycle.ts';
import { OperationPolicyStore, operationPolicyDto } from './operation-policies.ts';
import { deploymentDto, RevisionStore, revisionDto } from './revisions.ts';

const deploymentsSchema = z.array(
  z.looseObject({
    revisionUuid: z.string().optional(),
    name: z.string().min(1),
    vhost: z.string().min(1).optional(),
    displayOnDevportal: z.boolean().optional(),
  }),
);

/** Publisher v4: APIs, their definitions, operation policies, revisions, deployments and lifecycle. */
export async function registerPublisherRoutes(
  app: FastifyInstance,
  context: ApiManagerContext,
): Promise<void> {
  const apis = new ApiStore(context.db);
  const policies = new OperationPolicyStore(context.db);
  const revisions = new RevisionStore(context.db);
  const { tokens } = context;
  const view = requireScope(tokens, 'apim:api_view', 'apim:api_create', 'apim:api_publish');
  const create = requireScope(tokens, 'apim:api_create');
  const publish = requireScope(tokens, 'apim:api_publish', 'apim:api_create');

  await app.register(
    async (publisher) => {
      publisher.get(
        '/apis',
        {
          onRequest: view,
          schema: { querystring: queryOf({ query: text(), limit: count, offset: count }) },
        },
        async (request) => {
          const query = request.query as { query?: string; limit?: string; offset?: string };
          const matching = (await apis.list()).filter(matcher(query.query));
          const limit = Math.max(1, Math.min(Number(query.limit ?? 25) || 25, 1000));
          const offset = Math.max(0, Number(query.offset ?? 0) || 0);
          const page = matching.slice(offset, offset + limit);
          return {
            count: page.length,
            list: page.map(apiInfoDto),
            pagination: { offset, limit, total: matching.length, next: '', previous: '' },
          };
        },
      );

      publisher.get(
        '/apis/:apiId',
        { onRequest: view, schema: { params: idParams('apiId') } },
        async (request) => apiDto(await apis.get(apiIdOf(request))),
      );

      publisher.get(
        '/apis/:apiId/swagger',
        { onRequest: view, schema: { params: idParams('apiId') } },
        async (request, reply) => {
          reply.type('application/json').send(await apis.definition(apiIdOf(request)));
        },
      );

      publisher.post('/apis/import-openapi', { onRequest: create }, async (request, reply) => {
        const parts = await readMultipart(request);
        const text = await definitionText(parts, context);
        const definition = importDefinition(parseDefinitionText(text));
        let properties: unknown = {};
        if (parts.additionalProperties) {
          try {
            properties = JSON.parse(parts.additionalProperties);
          } catch {
            throw badRequest('invalid field additionalProperties: not JSON');
          }
        }
        const input = parseBody(importPropertiesSchema, properties, 'additionalProperties');
        const context_ = input.context ?? definition.basePath;
        if (!context_) throw badRequest('invalid field additionalProperties.context: required');
        const model: ApiModel = {
          description: input.description ?? '',
          provider: input.provider ?? callerOf(request),
          tags: input.tags ?? [],
          policies: input.policies ?? [],
          apiThrottlingPolicy: input.apiThrottlingPolicy ?? null,
          authorizationHeader: input.authorizationHeader ?? 'Authorization',
          endpointConfig: (input.endpointConfig ?? null) as ApiModel['endpointConfig'],
          scopes: definition.scopes,
          operations: definition.operations.map((operation) => ({
            ...operation,
            operationPolicies: { request: [], response: [], fault: [] },
          })),
        };
        const api = await apis.create({
          name: input.name,
          version: input.version ?? definition.version,
          contextTemplate: contextTemplateOf(context_),
          model,
          definition: text,
        });
        reply.code(201).send(apiDto(api));
      });

      publisher.put(
        '/apis/:apiId',
        { onRequest: create, schema: { params: idParams('apiId') } },
        async (request) => {
          const api = await apis.get(apiIdOf(request));
          checkIdentityUnchanged(api, request.body);
          const model = applyUpdate(api.model, request.body, await policies.list(api.id));
          const updated = await apis.updateModel(api.id, model);
          // Business plans are read live by the gateway (not frozen in revisions).
          context.changes.changed();
          return apiDto(updated);
        },
      );

      publisher.delete(
        '/apis/:apiId',
        { onRequest: requireScope(tokens, 'apim:api_delete'), schema: { params: idParams('apiId') } },
        async (request, reply) => {
          const api = await apis.get(apiIdOf(request));
          await apis.remove(api.id);
          context.changes.changed();
          reply.code(200).send();
        },
      );

      publisher.post(
        '/apis/:apiId/operation-policies',
        {
          onRequest: requireScope(tokens, 'apim:mediation_policy_create', 'apim:api_create'),
          schema: { params: idParams('apiId') },
        },
        async (request, reply) => {
          const api = await apis.get(apiIdOf(request));
          const parts = await readMultipart(request);
          const policy = await policies.upload(
            api.id,
            parts.policySpecFile,
            parts.synapsePolicyDefinitionFile,
          );
          reply.code(201).send(operationPolicyDto(policy));
        },
      );

      const viewPolicies = requireScope(
        tokens,
        'apim:mediation_policy_view',
        'apim:api_view',
        'apim:api_create',
      );
      publisher.get(
        '/apis/:apiId/operation-policies',
        { onRequest: viewPolicies, schema: { params: idParams('apiId') } },
        async (request) => {
          const api = await apis.get(apiIdOf(request));
          const list = (await policies.list(api.id)).map(operationPolicyDto);
          return wholeList(list);
        },
      );

      publisher.get(
        '/apis/:apiId/operation-policies/:policyId',
        { onRequest: viewPolicies, schema: { params: idParams('apiId', 'policyId') } },
        async (request) => {
          const { apiId, policyId } = request.params as { apiId: string; policyId: string };
          return operationPolicyDto(await policies.get(apiId, policyId));
        },
      );

      publisher.delete(
        '/apis/:apiId/operation-policies/:policyId',
        {
          onRequest: requireScope(tokens, 'apim:mediation_policy_create', 'apim:api_create'),
          schema: { params: idParams('apiId', 'policyId') },
        },
        async (request, reply) => {
          const { apiId, policyId } = request.params as { apiId: string; policyId: string };
          const api = await apis.get(apiId);
          const attached = api.model.operations.some((operation) =>
            Object.values(operation.operationPolicies).some((refs) =>
              refs.some((ref) => ref.policyId === policyId),
            ),
          );
          if (attached) throw badRequest(`operation policy ${policyId} is attached to operations of the API`);
          await policies.remove(apiId, policyId);
          reply.code(200).send();
        },
      );

      publisher.get(
        '/operation-policies',
        { onRequest: requireScope(tokens, 'apim:common_operation_policy_view', 'apim:api_view') },
        // Common (shared) policies: none are offered; API-specific policies carry the mediation.
        async () => wholeList([]),
      );

      publisher.post(
        '/apis/:apiId/revisions',
        { onRequest: publish, schema: { params: idParams('apiId') } },
        async (request, reply) => {
          const api = await apis.get(apiIdOf(request));
          const body = parseBody(
            z.looseObject({ description: z.string().max(255).nullish() }).nullish(),
            request.body,
          );
          const revision = await revisions.create(api, body?.description ?? '', await policies.list(api.id));
          reply.code(201).send(revisionDto(revision, []));
        },
      );

      publisher.get(
        '/apis/:apiId/revisions',
        { onRequest: view, schema: { params: idParams('apiId'), querystring: queryOf({ query: text() }) } },
        async (request) => {
          const api = await apis.get(apiIdOf(request));
          const query = (request.query as { query?: string }).query ?? '';
          const deployedFilter = /deployed:(true|false)/.exec(query)?.[1];
          const deployments = await revisions.deployments(api.id);
          const list = (await revisions.list(api.id))
            .filter((revision) => {
              if (deployedFilter === undefined) return true;
              const deployed = deployments.some((deployment) => deployment.revisionId === revision.id);
              return deployedFilter === 'true' ? deployed : !deployed;
            })
            .map((revision) => revisionDto(revision, deployments));
          return { count: list.length, list };
        },
      );

      publisher.get(
        '/apis/:apiId/revisions/:revisionId',
        { onRequest: view, schema: { params: idParams('apiId', 'revisionId') } },
        async (request) => {
          const { apiId, revisionId } = request.params as { apiId: string; revisionId: string };
          return revisionDto(await revisions.get(apiId, revisionId), await revisions.deployments(apiId));
        },
      );

      publisher.delete(
        '/apis/:apiId/revisions/:revisionId',
        { onRequest: publish, schema: { params: idParams('apiId', 'revisionId') } },
        async (request) => {
          const { apiId, revisionId } = request.params as { apiId: string; revisionId: string };
          await revisions.remove(apiId, revisionId);
          const deployments = await revisions.deployments(apiId);
          const list = (await revisions.list(apiId)).map((revision) => revisionDto(revision, deployments));
          return { count: list.length, list };
        },
      );

      publisher.get(
        '/apis/:apiId/deployments',
        { onRequest: view, schema: { params: idParams('apiId') } },
        async (request) => {
          const list = (await revisions.deployments(apiIdOf(request))).map(deploymentDto);
          return list;
        },
      );

      publisher.post(
        '/apis/:apiId/deploy-revision',
        {
          onRequest: publish,
          schema: { params: idParams('apiId'), querystring: queryOf({ revisionId: identifier }) },
        },
        async (request, reply) => {
          const api = await apis.get(apiIdOf(request));
          const revisionId = requiredQuery(request.query, 'revisionId');
          const body = parseBody(deploymentsSchema.min(1), request.body);
          if (api.lifecycle === 'RETIRED') throw badRequest('a retired API cannot be deployed');
          const deployed = await revisions.deploy(
            api.id,
            revisionId,
            body,
            gatewayEnvironments(context.config),
          );
          context.changes.changed();
          reply.code(201).send(deployed.map(deploymentDto));
        },
      );

      publisher.post(
        '/apis/:apiId/undeploy-revision',
        {
          onRequest: publish,
          schema: {
            params: idParams('apiId'),
            querystring: queryOf({ revisionId: identifier, revisionNumber: count, allEnvironments: text(8) }),
          },
        },
        async (request, reply) => {
          const api = await apis.get(apiIdOf(request));
          const query = request.query as {
            revisionId?: string;
            revisionNumber?: string;
            allEnvironments?: string;
          };
          let revisionId = query.revisionId;
          if (!revisionId && query.revisionNumber) {
            const number = Number(query.revisionNumber);
            revisionId = (await revisions.list(api.id)).find((revision) => revision.number === number)?.id;
            if (!revisionId) throw notFound('revision number', query.revisionNumber);
          }
          if (!revisionId) throw badRequest('invalid field revisionId: required');
          if (query.allEnvironments === 'true') {
            await revisions.undeploy(api.id, revisionId, 'all');
          } else {
            const body = parseBody(deploymentsSchema.min(1), request.body);
            await revisions.undeploy(
              api.id,
              revisionId,
              body.map((deployment) => deployment.name),
            );
          }
          context.changes.changed();
          reply.code(201).send((await revisions.deployments(api.id)).map(deploymentDto));
        },
      );

      publisher.post(
        '/apis/change-lifecycle',
        {
          onRequest: requireScope(tokens, 'apim:api_publish'),
          schema: { querystring: queryOf({ apiId: identifier, action: text() }) },
        },
        async (request) => {
          const apiId = requiredQuery(request.query, 'apiId');
          const action = requiredQuery(request.query, 'action');
          const api = await apis.get(apiId);
          const next = nextLifecycleState(api.lifecycle, action);
          await apis.setLifecycle(api.id, next);
          context.changes.changed();
          return { workflowStatus: 'APPROVED', jsonPayload: '', lifecycleState: lifecycleStateDto(next) };
        },
      );

      publisher.get(
        '/apis/:apiId/lifecycle-state',
        { onRequest: view, schema: { params: idParams('apiId') } },
        async (request) => lifecycleStateDto((await apis.get(apiIdOf(request))).lifecycle),
      );
    },
    { prefix: PUBLISHER_API },
  );
}

function apiIdOf(request: { params: unknown }): string {
  return (request.params as { apiId: string }).apiId;
}

function requiredQuery(query: unknown, name: string): string {
  const value = (query as Record<string, string | undefined>)[name];
  if (!value) throw badRequest(`invalid field ${name}: required query parameter`);
  return value;
}

/** Name, version and context identify an API: a PUT may repeat them but not change them. */
function checkIdentityUnchanged(api: ApiRecord, body: unknown): void {
  const input = (body ?? {}) as { name?: unknown; version?: unknown; context?: unknown };
  if (input.name !== undefined && input.name !== api.name)
    throw badRequest('invalid field name: cannot be changed');
  if (input.version !== undefined && input.version !== api.version) {
    throw badRequest('invalid field version: cannot be changed');
  }
  if (
    input.context !== undefined &&
    typeof input.context === 'string' &&
    contextTemplateOf(input.context) !== api.contextTemplate &&
    input.context !== displayContext(api.contextTemplate)
  ) {
    throw badRequest('invalid field context: cannot be changed');
  }
}

/** WSO2's search syntax for `?query=`: `name:"X"` exact, `name:X` partial, likewise version/context. */
function matcher(query: string | undefined): (api: ApiRecord) => boolean {
  if (!query?.trim()) return () => true;
  const terms = [...query.matchAll(/(?:(\w+):)?(?:"([^"]*)"|(\S+))/g)].map((match) => ({
    field: (match[1] ?? 'name').toLowerCase(),
    exact: match[2] !== undefined,
    value: (match[2] ?? match[3] ?? '').toLowerCase(),
  }));
  return (api) =>
    terms.every(({ field, exact, value }) => {
      const candidate =
        field === 'version'
          ? api.version
          : field === 'context'
            ? displayContext(api.contextTemplate)
            : field === 'status'
              ? api.lifecycle
              : field === 'name'
                ? api.name
                : undefined;
      if (candidate === undefined) return false;
      const text = candidate.toLowerCase();
      return exact ? text === value : text.includes(value);
    });
}

/** The definition from `file`, `inlineAPIDefinition` or `url` (fetched under the outbound policy). */
async function definitionText(parts: Record<string, string>, context: ApiManagerContext): Promise<string> {
  if (parts.file) return parts.file;
  if (parts.inlineAPIDefinition) return parts.inlineAPIDefinition;
  if (parts.url) {
    try {
      const { status, body } = await context.outbound.get(
        parts.url,
        'application/json, application/yaml, */*',
      );
      if (status !== 200) throw badRequest(`invalid field url: ${parts.url} answered HTTP ${status}`);
      return body;
    } catch (error) {
      if (error instanceof OutboundError) throw badRequest(`invalid field url: ${error.message}`);
      throw error;
    }
  }
  throw badRequest('invalid field file: one of file, url or inlineAPIDefinition is required');
}
