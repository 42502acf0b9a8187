import { idParams } from '../../../lib/http/route-schemas.ts';
import { requireScope } from '../auth/require-scope.ts';
import { badRequest, readMultipart, wholeList } from '../request.ts';
import { operationPolicyDto } from './operation-policies.ts';
import type { Publisher } from './routes.ts';

/** `/apis/{apiId}/operation-policies`: API-specific mediation policies, uploaded, listed and removed. */
export function operationPolicyRoutes({ app, context, apis, policies }: Publisher): void {
  const { tokens } = context;
  const manage = requireScope(tokens, 'apim:mediation_policy_create', 'apim:api_create');
  const view = requireScope(tokens, 'apim:mediation_policy_view', 'apim:api_view', 'apim:api_create');

  app.post(
    '/apis/:apiId/operation-policies',
    { onRequest: manage, schema: { params: idParams('apiId') } },
    async (request, reply) => {
      const api = await apis.get(request.params.apiId);
      const parts = await readMultipart(request);
      const policy = await policies.upload(api.id, parts.policySpecFile, parts.synapsePolicyDefinitionFile);
      reply.code(201).send(operationPolicyDto(policy));
    },
  );

  app.get(
    '/apis/:apiId/operation-policies',
    { onRequest: view, schema: { params: idParams('apiId') } },
    async (request) => {
      const api = await apis.get(request.params.apiId);
      return wholeList((await policies.list(api.id)).map(operationPolicyDto));
    },
  );

  app.get(
    '/apis/:apiId/operation-policies/:policyId',
    { onRequest: view, schema: { params: idParams('apiId', 'policyId') } },
    async (request) => {
      const { apiId, policyId } = request.params;
      return operationPolicyDto(await policies.get(apiId, policyId));
    },
  );

  app.delete(
    '/apis/:apiId/operation-policies/:policyId',
    { onRequest: manage, schema: { params: idParams('apiId', 'policyId') } },
    async (request, reply) => {
      const { apiId, policyId } = request.params;
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

  app.get(
    '/operation-policies',
    { onRequest: requireScope(tokens, 'apim:common_operation_policy_view', 'apim:api_view') },
    // Common (shared) policies: none are offered; API-specific policies carry the mediation.
    async () => wholeList([]),
  );
}
