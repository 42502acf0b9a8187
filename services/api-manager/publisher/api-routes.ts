import { OutboundError } from '../../../lib/http/outbound.ts';
import { count, idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { callerOf, requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { badRequest, parseBody, readMultipart } from '../request.ts';
import { applyUpdate, importPropertiesSchema } from './api-input.ts';
import {
  type ApiModel,
  type ApiRecord,
  apiDto,
  apiInfoDto,
  contextTemplateOf,
  displayContext,
} from './api-model.ts';
import { importDefinition, parseDefinitionText } from './definition.ts';
import type { Publisher } from './routes.ts';

const apiParams = { params: idParams('apiId') };

/** `/apis`: list, read, the definition, import from OpenAPI, update and delete. */
export function apiRoutes({ app, context, apis, policies, view, create }: Publisher): void {
  app.get(
    '/apis',
    { onRequest: view, schema: { querystring: queryOf({ query: text(), limit: count, offset: count }) } },
    async (request) => {
      const { query } = request;
      const matching = (await apis.list()).filter(matcher(query.query));
      const limit = Math.max(1, Math.min(query.limit || 25, 1000));
      const offset = Math.max(0, query.offset ?? 0);
      const page = matching.slice(offset, offset + limit);
      return {
        count: page.length,
        list: page.map(apiInfoDto),
        pagination: { offset, limit, total: matching.length, next: '', previous: '' },
      };
    },
  );

  app.get('/apis/:apiId', { onRequest: view, schema: apiParams }, async (request) =>
    apiDto(await apis.get(request.params.apiId)),
  );

  app.get('/apis/:apiId/swagger', { onRequest: view, schema: apiParams }, async (request, reply) => {
    reply.type('application/json').send(await apis.definition(request.params.apiId));
  });

  app.post('/apis/import-openapi', { onRequest: create }, async (request, reply) => {
    const parts = await readMultipart(request);
    const text = await definitionText(parts, context);
    const api = await apis.create(importedApi(parts, text, callerOf(request)));
    reply.code(201).send(apiDto(api));
  });

  app.put('/apis/:apiId', { onRequest: create, schema: apiParams }, async (request) => {
    const api = await apis.get(request.params.apiId);
    checkIdentityUnchanged(api, request.body);
    const model = applyUpdate(api.model, request.body, await policies.list(api.id));
    const updated = await apis.updateModel(api.id, model);
    // Business plans are read live by the gateway (not frozen in revisions).
    context.changes.changed();
    return apiDto(updated);
  });

  app.delete(
    '/apis/:apiId',
    { onRequest: requireScope(context.tokens, 'apim:api_delete'), schema: apiParams },
    async (request, reply) => {
      const api = await apis.get(request.params.apiId);
      await apis.remove(api.id);
      context.changes.changed();
      reply.code(200).send();
    },
  );
}

/** The new API of an import: the definition's operations and scopes, the rest from `additionalProperties`. */
function importedApi(parts: Record<string, string>, text: string, caller: string) {
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
  const context = input.context ?? definition.basePath;
  if (!context) throw badRequest('invalid field additionalProperties.context: required');
  const model: ApiModel = {
    description: input.description ?? '',
    provider: input.provider ?? caller,
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
  return {
    name: input.name,
    version: input.version ?? definition.version,
    contextTemplate: contextTemplateOf(context),
    model,
    definition: text,
  };
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
