import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { identifier, idParams, queryOf, text } from '../../../lib/http/route-schemas.ts';
import { isUniqueViolation } from '../../../lib/storage/index.ts';
import { DEVPORTAL_API } from '../../../lib/wso2/management-api.ts';
import { keyManagerStoreOf } from '../admin/routes.ts';
import { isSubscriptionPolicy, UNLIMITED } from '../admin/throttling-policies.ts';
import { ClientStore } from '../auth/clients.ts';
import { callerOf, requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { ApiStore } from '../publisher/api-store.ts';
import { badRequest, conflict, notFound, parseBody, wholeList } from '../request.ts';
import { KeyManagerConnector } from './key-generation.ts';

const applicationSchema = z.looseObject({
  name: z.string().min(1).max(100),
  throttlingPolicy: z
    .literal(UNLIMITED, { error: `only ${UNLIMITED} application throttling is supported` })
    .default(UNLIMITED),
  description: z.string().nullish(),
  tokenType: z.enum(['JWT', 'OAUTH']).default('JWT'),
  attributes: z.record(z.string(), z.string()).nullish(),
});

const subscriptionSchema = z.looseObject({
  applicationId: z.string().min(1),
  apiId: z.string().min(1),
  throttlingPolicy: z.string().refine(isSubscriptionPolicy, { error: 'unknown business plan' }),
});

const generateKeysSchema = z.looseObject({
  keyType: z.enum(['PRODUCTION', 'SANDBOX']).default('PRODUCTION'),
  keyManager: z.string().min(1).default('Resident Key Manager'),
  grantTypesToBeSupported: z.array(z.string()).default(['client_credentials']),
  callbackUrl: z.string().nullish(),
});

interface ApplicationRow {
  id: string;
  name: string;
  owner: string;
  throttling_policy: string;
  dto: { description: string; tokenType: string; attributes: Record<string, string> };
}

/** Devportal v3 (minimal): applications, subscriptions and key generation through a key manager. */
export function registerDevportalRoutes(app: FastifyInstance, context: ApiManagerContext): void {
  const { db, tokens } = context;
  const apis = new ApiStore(db);
  const keyManagers = keyManagerStoreOf(context);
  const clients = new ClientStore(db, context.secrets);
  const outboundCa = context.config.obkit.tls.outbound_ca;
  const connector = new KeyManagerConnector({
    extraCa: outboundCa ? readFileSync(outboundCa, 'utf8') : undefined,
    timeoutMs: context.config.open_banking.dcr.jwks_retriever.read_timeout,
  });
  app.addHook('onClose', () => connector.close());
  const manageApps = requireScope(tokens, 'apim:app_manage', 'apim:subscribe');
  const manageSubscriptions = requireScope(tokens, 'apim:sub_manage', 'apim:subscribe');

  const applicationOf = async (id: string, owner: string): Promise<ApplicationRow> => {
    const row = await db.query<ApplicationRow>('SELECT * FROM applications WHERE id = $1 AND owner = $2', [
      id,
      owner,
    ]);
    if (!row.rows[0]) throw notFound('application', id);
    return row.rows[0];
  };
  const subscriptionCount = async (id: string) =>
    (
      await db.query<{ count: number }>(
        'SELECT count(*)::integer AS count FROM subscriptions WHERE application_id = $1',
        [id],
      )
    ).rows[0]?.count ?? 0;
  const applicationDto = async (row: ApplicationRow) => ({
    applicationId: row.id,
    name: row.name,
    throttlingPolicy: row.throttling_policy,
    description: row.dto.description,
    tokenType: row.dto.tokenType,
    status: 'APPROVED',
    groups: [],
    subscriptionCount: await subscriptionCount(row.id),
    keys: [],
    attributes: row.dto.attributes,
    subscriptionScopes: [],
    owner: row.owner,
    hashEnabled: false,
  });

  app.register(
    async (devportal) => {
      devportal.post('/applications', { onRequest: manageApps }, async (request, reply) => {
        const input = parseBody(applicationSchema, request.body);
        const id = randomUUID();
        try {
          await db.query(
            'INSERT INTO applications (id, name, owner, throttling_policy, dto) VALUES ($1, $2, $3, $4, $5::jsonb)',
            [
              id,
              input.name,
              callerOf(request),
              input.throttlingPolicy,
              JSON.stringify({
                description: input.description ?? '',
                tokenType: input.tokenType,
                attributes: input.attributes ?? {},
              }),
            ],
          );
        } catch (error) {
          if (isUniqueViolation(error)) throw conflict(`an application named ${input.name} already exists`);
          throw error;
        }
        reply.code(201).send(await applicationDto(await applicationOf(id, callerOf(request))));
      });

      devportal.get(
        '/applications',
        { onRequest: manageApps, schema: { querystring: queryOf({ query: text() }) } },
        async (request) => {
          const query = (request.query as { query?: string }).query;
          const rows = await db.query<ApplicationRow>(
            'SELECT * FROM applications WHERE owner = $1 ORDER BY created_at',
            [callerOf(request)],
          );
          const matching = rows.rows.filter((row) => !query || row.name === query);
          const list = await Promise.all(matching.map(applicationDto));
          return wholeList(list);
        },
      );

      devportal.get(
        '/applications/:id',
        { onRequest: manageApps, schema: { params: idParams('id') } },
        async (request) =>
          applicationDto(await applicationOf((request.params as { id: string }).id, callerOf(request))),
      );

      devportal.delete(
        '/applications/:id',
        { onRequest: manageApps, schema: { params: idParams('id') } },
        async (request, reply) => {
          const application = await applicationOf((request.params as { id: string }).id, callerOf(request));
          const keys = await db.query<{ key_manager: string; consumer_key: string }>(
            'SELECT key_manager, consumer_key FROM application_keys WHERE application_id = $1',
            [application.id],
          );
          for (const key of keys.rows) {
            if (key.key_manager === 'Resident Key Manager') await clients.remove(key.consumer_key);
          }
          await db.query('DELETE FROM applications WHERE id = $1', [application.id]);
          context.changes.changed();
          reply.code(200).send();
        },
      );

      devportal.post(
        '/applications/:id/generate-keys',
        { onRequest: manageApps, schema: { params: idParams('id') } },
        async (request) => {
          const application = await applicationOf((request.params as { id: string }).id, callerOf(request));
          const input = parseBody(generateKeysSchema, request.body);
          const keyManager = await keyManagers.findByName(input.keyManager);
          if (!keyManager)
            throw badRequest(`invalid field keyManager: no key manager named ${input.keyManager}`);
          if (!keyManager.enabled)
            throw badRequest(`invalid field keyManager: key manager ${keyManager.name} is disabled`);
          if (!keyManager.enableOAuthAppCreation) {
            throw badRequest(
              `invalid field keyManager: key manager ${keyManager.name} does not allow OAuth app creation`,
            );
          }
          const clientName = `${application.owner}_${application.name}_${input.keyType}`;
          let consumerKey: string;
          let consumerSecret: string | null;
          if (keyManager.type === 'default') {
            const client = await clients.createApplicationClient({
              clientName,
              owner: application.owner,
              grantTypes: input.grantTypesToBeSupported,
              callbackUrl: input.callbackUrl ?? null,
            });
            consumerKey = client.clientId;
            consumerSecret = client.clientSecret;
          } else {
            const secrets = await keyManagers.secretsOf(keyManager.id);
            const username = String(keyManager.additionalProperties.Username ?? '');
            const password = secrets.Password ?? '';
            if (!username || !password) {
              throw badRequest(
                `key manager ${keyManager.name} lacks connector credentials (additionalProperties Username/Password)`,
              );
            }
            const registered = await connector.registerClient(
              keyManager,
              { username, password },
              {
                clientName,
                grantTypes: input.grantTypesToBeSupported,
                callbackUrl: input.callbackUrl ?? null,
              },
            );
            consumerKey = registered.clientId;
            consumerSecret = registered.clientSecret;
          }
          const keyMappingId = randomUUID();
          try {
            await db.query(
              // The consumer secret is the key manager's to keep: shown once in this answer, stored nowhere.
              `INSERT INTO application_keys (id, application_id, key_manager, key_type, consumer_key, grant_types, callback_url)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
              [
                keyMappingId,
                application.id,
                keyManager.name,
                input.keyType,
                consumerKey,
                JSON.stringify(input.grantTypesToBeSupported),
                input.callbackUrl ?? null,
              ],
            );
          } catch (error) {
            if (isUniqueViolation(error)) {
              throw conflict(
                `application ${application.id} already has ${input.keyType} keys from ${keyManager.name}`,
              );
            }
            throw error;
          }
          context.changes.changed();
          return {
            keyMappingId,
            keyManager: keyManager.name,
            consumerKey,
            consumerSecret,
            supportedGrantTypes: input.grantTypesToBeSupported,
            callbackUrl: input.callbackUrl ?? null,
            keyState: 'COMPLETED',
            keyType: input.keyType,
            mode: 'CREATED',
            groupId: null,
            token: null,
            additionalProperties: {},
          };
        },
      );

      devportal.get(
        '/applications/:id/keys',
        { onRequest: manageApps, schema: { params: idParams('id') } },
        async (request) => {
          const application = await applicationOf((request.params as { id: string }).id, callerOf(request));
          const rows = await db.query<{
            id: string;
            key_manager: string;
            key_type: string;
            consumer_key: string;
            grant_types: string[];
            callback_url: string | null;
          }>('SELECT * FROM application_keys WHERE application_id = $1 ORDER BY key_manager, key_type', [
            application.id,
          ]);
          const list = rows.rows.map((row) => ({
            keyMappingId: row.id,
            keyManager: row.key_manager,
            consumerKey: row.consumer_key,
            // Secrets are shown once, at generation.
            consumerSecret: null,
            supportedGrantTypes: row.grant_types,
            callbackUrl: row.callback_url,
            keyState: 'COMPLETED',
            keyType: row.key_type,
          }));
          return { count: list.length, list };
        },
      );

      devportal.post('/subscriptions', { onRequest: manageSubscriptions }, async (request, reply) => {
        const input = parseBody(subscriptionSchema, request.body);
        const application = await applicationOf(input.applicationId, callerOf(request));
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

      devportal.get(
        '/subscriptions',
        {
          onRequest: manageSubscriptions,
          schema: { querystring: queryOf({ applicationId: identifier, apiId: identifier }) },
        },
        async (request) => {
          const query = request.query as { applicationId?: string; apiId?: string };
          if (!query.applicationId && !query.apiId)
            throw badRequest('invalid field applicationId: applicationId or apiId is required');
          const rows = await db.query<SubscriptionRow>(
            `SELECT s.* FROM subscriptions s JOIN applications a ON a.id = s.application_id
           WHERE a.owner = $1 AND ($2::text IS NULL OR s.application_id = $2) AND ($3::text IS NULL OR s.api_id = $3)
           ORDER BY s.id`,
            [callerOf(request), query.applicationId ?? null, query.apiId ?? null],
          );
          const list = rows.rows.map(subscriptionDto);
          return wholeList(list);
        },
      );

      devportal.delete(
        '/subscriptions/:id',
        { onRequest: manageSubscriptions, schema: { params: idParams('id') } },
        async (request, reply) => {
          const id = (request.params as { id: string }).id;
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
    },
    { prefix: DEVPORTAL_API },
  );
}

interface SubscriptionRow {
  id: string;
  application_id: string;
  api_id: string;
  throttling_policy: string;
  status: string;
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
