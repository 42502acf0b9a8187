import { identifier, idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { requireScope } from '../auth/require-scope.ts';
import { lifecycleStateDto, nextLifecycleState } from './lifecycle.ts';
import { type Publisher, requiredQuery } from './routes.ts';

/** An API's lifecycle: its state, and WSO2's `change-lifecycle` action. */
export function lifecycleRoutes({ app, context, apis, view }: Publisher): void {
  app.post(
    '/apis/change-lifecycle',
    {
      onRequest: requireScope(context.tokens, 'apim:api_publish'),
      schema: { querystring: queryOf({ apiId: identifier, action: text() }) },
    },
    async (request) => {
      const apiId = requiredQuery(request.query.apiId, 'apiId');
      const action = requiredQuery(request.query.action, 'action');
      const api = await apis.get(apiId);
      const next = nextLifecycleState(api.lifecycle, action);
      await apis.setLifecycle(api.id, next);
      context.changes.changed();
      return { workflowStatus: 'APPROVED', jsonPayload: '', lifecycleState: lifecycleStateDto(next) };
    },
  );

  app.get(
    '/apis/:apiId/lifecycle-state',
    { onRequest: view, schema: { params: idParams('apiId') } },
    async (request) => lifecycleStateDto((await apis.get(request.params.apiId)).lifecycle),
  );
}
