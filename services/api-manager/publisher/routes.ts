import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { type SchemaTypedApp, schemaTyped } from '../../../lib/http/route-schemas.ts';
import { PUBLISHER_API } from '../../../lib/wso2/management-api.ts';
import { requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { badRequest } from '../request.ts';
import { apiRoutes } from './api-routes.ts';
import { ApiStore } from './api-store.ts';
import { lifecycleRoutes } from './lifecycle-routes.ts';
import { OperationPolicyStore } from './operation-policies.ts';
import { operationPolicyRoutes } from './operation-policy-routes.ts';
import { deploymentRoutes, revisionRoutes } from './revision-routes.ts';
import { RevisionStore } from './revisions.ts';

/** What every publisher resource's routes share: the stores and the common scope checks. */
export interface Publisher {
  app: SchemaTypedApp;
  context: ApiManagerContext;
  apis: ApiStore;
  policies: OperationPolicyStore;
  revisions: RevisionStore;
  view: onRequestAsyncHookHandler;
  create: onRequestAsyncHookHandler;
  publish: onRequestAsyncHookHandler;
}

/** Publisher v4: APIs, their definitions, operation policies, revisions, deployments and lifecycle. */
export async function registerPublisherRoutes(
  app: FastifyInstance,
  context: ApiManagerContext,
): Promise<void> {
  const { tokens } = context;
  await app.register(
    async (scope) => {
      const publisher: Publisher = {
        app: schemaTyped(scope),
        context,
        apis: new ApiStore(context.db),
        policies: new OperationPolicyStore(context.db),
        revisions: new RevisionStore(context.db),
        view: requireScope(tokens, 'apim:api_view', 'apim:api_create', 'apim:api_publish'),
        create: requireScope(tokens, 'apim:api_create'),
        publish: requireScope(tokens, 'apim:api_publish', 'apim:api_create'),
      };
      apiRoutes(publisher);
      operationPolicyRoutes(publisher);
      revisionRoutes(publisher);
      deploymentRoutes(publisher);
      lifecycleRoutes(publisher);
    },
    { prefix: PUBLISHER_API },
  );
}

/** A required query parameter the route schema declares (schemas say which, not that it must be there). */
export function requiredQuery(value: string | undefined, name: string): string {
  if (!value) throw badRequest(`invalid field ${name}: required query parameter`);
  return value;
}
