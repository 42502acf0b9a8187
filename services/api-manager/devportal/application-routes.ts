import { z } from 'zod';
import { idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { UNLIMITED } from '../admin/throttling-policies.ts';
import { ClientStore } from '../auth/clients.ts';
import { callerOf } from '../auth/require-scope.ts';
import { parseBody, wholeList } from '../request.ts';
import type { Devportal } from './routes.ts';

const applicationSchema = z.looseObject({
  name: z.string().min(1).max(100),
  throttlingPolicy: z
    .literal(UNLIMITED, { error: `only ${UNLIMITED} application throttling is supported` })
    .default(UNLIMITED),
  description: z.string().nullish(),
  tokenType: z.enum(['JWT', 'OAUTH']).default('JWT'),
  attributes: z.record(z.string(), z.string()).nullish(),
});

/** `/applications`: the caller's applications, created, listed, read and deleted (with their resident keys). */
export function applicationRoutes({ app, context, applications, manageApps }: Devportal): void {
  const clients = new ClientStore(context.db, context.secrets);

  app.post('/applications', { onRequest: manageApps }, async (request, reply) => {
    const input = parseBody(applicationSchema, request.body);
    const created = await applications.create({
      name: input.name,
      owner: callerOf(request),
      throttlingPolicy: input.throttlingPolicy,
      description: input.description ?? '',
      tokenType: input.tokenType,
      attributes: input.attributes ?? {},
    });
    reply.code(201).send(await applications.dto(created));
  });

  app.get(
    '/applications',
    { onRequest: manageApps, schema: { querystring: queryOf({ query: text() }) } },
    async (request) => {
      const { query } = request.query;
      const matching = (await applications.list(callerOf(request))).filter(
        (row) => !query || row.name === query,
      );
      return wholeList(await Promise.all(matching.map((row) => applications.dto(row))));
    },
  );

  app.get(
    '/applications/:id',
    { onRequest: manageApps, schema: { params: idParams('id') } },
    async (request) => applications.dto(await applications.get(request.params.id, callerOf(request))),
  );

  app.delete(
    '/applications/:id',
    { onRequest: manageApps, schema: { params: idParams('id') } },
    async (request, reply) => {
      const application = await applications.get(request.params.id, callerOf(request));
      const keys = await context.db.query<{ key_manager: string; consumer_key: string }>(
        'SELECT key_manager, consumer_key FROM application_keys WHERE application_id = $1',
        [application.id],
      );
      for (const key of keys.rows) {
        if (key.key_manager === 'Resident Key Manager') await clients.remove(key.consumer_key);
      }
      await applications.remove(application.id);
      context.changes.changed();
      reply.code(200).send();
    },
  );
}
