import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { identifier, idParams, queryOf } from '../../../lib/http/route-schemas.ts';
import { isUniqueViolation } from '../../../lib/storage/index.ts';
import { isSubscriptionPolicy } from '../admin/throttling-policies.ts';
import { callerOf, requireScope } from '../auth/require-scope.ts';
import { ApiStore } from '../publisher/api-store.ts';
import { badRequest, conflict, notFound, parseBody, wholeList } from '../request.ts';
import type { Devportal } from './routes.ts';

const subscriptionSchema = z.looseObject({
  applicationId: z.string().min(1),
  apiId: z.string().min(1),
  throttlingPolicy: z.string().refine(isSubscriptionPolicy, { error: 'unknown business plan' }),
});

interface SubscriptionRow {
  id: string;
  application_id: string;
  api_id: string;
  throttling_policy: string;
  status: string;
}

/** `/subscriptions`: an application's subscriptions to published APIs, each under one business plan. */
export function subscriptionRoutes({ app, context, applications }: Devportal): void {
  const { db } = context;
  const apis = new ApiStore(db);
  const manageSubscriptions = requireScope(context.tokens, 'apim:sub_manage', 'apim:subscribe');

  app.post('/subscriptions', { onRequest: manageSubscriptions }, async (request, reply) => {
    const input = parseBody(subscriptionSchema, request.body);
    const application = await applications.get(input.applicationId, callerOf(request));
    const api = await apis.get(input.apiId);
    if (api.lifecycle !== 'PUBLISHED' && api.lifecycle !== 'PROTOTYPED') {
      throw badRequest(`API ${api.id} is ${api.lifecycle}: only published APIs accept subscriptions`);
    }
    if (!api.model.policies.includes(input.throttlingPolicy)) {
      throw badRequest(
        `invalid field throttlingPolicy: ${input.throttlingPolicy} is not a business plan of API ${api.id} (${api.model.policies.join(', ') || 'none'})`,
      );
    }
    const id = randomUUID();
    try {
      await db.query(
        'INSERT INTO subscriptions (id, application_id, api_id, throttling_policy) VALUES ($1, $2, $3, $4)',
        [id, application.id, api.id, input.throttlingPolicy],
      );
    } catch (error) {
      if (isUniqueViolation(error))
        throw conflict(`application ${application.id} is already subscribed to API ${api.id}`);
      throw error;
    }
    context.changes.changed();
    reply.code(201).send(
      subscriptionDto({
        id,
        application_id: application.id,
        api_id: api.id,
        throttling_policy: input.throttlingPolicy,
        status: 'UNBLOCKED',
      }),
    );
  });

  app.get(
    '/subscriptions',
    {
      onRequest: manageSubscriptions,
      schema: { querystring: queryOf({ applicationId: identifier, apiId: identifier }) },
    },
    async (request) => {
      const { query } = request;
      if (!query.applicationId && !query.apiId)
        throw badRequest('invalid field applicationId: applicationId or apiId is required');
      const rows = await db.query<SubscriptionRow>(
        `SELECT s.* FROM subscriptions s JOIN applications a ON a.id = s.application_id
           WHERE a.owner = $1 AND ($2::text IS NULL OR s.application_id = $2) AND ($3::text IS NULL OR s.api_id = $3)
           ORDER BY s.id`,
        [callerOf(request), query.applicationId ?? null, query.apiId ?? null],
      );
      return wholeList(rows.rows.map(subscriptionDto));
    },
  );

  app.delete(
    '/subscriptions/:id',
    { onRequest: manageSubscriptions, schema: { params: idParams('id') } },
    async (request, reply) => {
      const { id } = request.params;
      const deleted = await db.query(
        `DELETE FROM subscriptions s USING applications a
           WHERE s.id = $1 AND a.id = s.application_id AND a.owner = $2`,
        [id, callerOf(request)],
      );
      if (deleted.rowCount === 0) throw notFound('subscription', id);
      context.changes.changed();
      reply.code(200).send();
    },
  );
}

function subscriptionDto(row: SubscriptionRow) {
  return {
    subscriptionId: row.id,
    applicationId: row.application_id,
    apiId: row.api_id,
    throttlingPolicy: row.throttling_policy,
    requestedThrottlingPolicy: row.throttling_policy,
    status: row.status,
  };
}
