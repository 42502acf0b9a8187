import type { FastifyInstance } from 'fastify';
import { idParams, schemaTyped } from '../../../lib/http/route-schemas.ts';
import { ADMIN_API } from '../../../lib/wso2/management-api.ts';
import { requireScope } from '../auth/require-scope.ts';
import type { ApiManagerContext } from '../context.ts';
import { badRequest, readMultipart } from '../request.ts';
import { discoverKeyManager } from './discover.ts';
import { environmentDto, gatewayEnvironments } from './environments.ts';
import { KeyManagerStore, keyManagerDto, keyManagerInfoDto } from './key-managers.ts';
import { SUBSCRIPTION_POLICIES, subscriptionPolicyDto } from './throttling-policies.ts';

export function keyManagerStoreOf(context: ApiManagerContext): KeyManagerStore {
  return new KeyManagerStore(context.db, context.secrets, () => {
    const url = context.url();
    return {
      issuer: `${url}/oauth2/token`,
      tokenEndpoint: `${url}/oauth2/token`,
      displayTokenEndpoint: `${url}/oauth2/token`,
      clientRegistrationEndpoint: `${url}/client-registration/v0.17/register`,
      certificates: { type: 'JWKS', value: `${url}/oauth2/jwks` },
      availableGrantTypes: [] as string[],
    };
  });
}

/** Admin v4: key managers, subscription throttling policies and gateway environments. */
export async function registerAdminRoutes(app: FastifyInstance, context: ApiManagerContext): Promise<void> {
  const keyManagers = keyManagerStoreOf(context);
  await keyManagers.ensureResident();
  const adminScope = requireScope(context.tokens, 'apim:admin');
  const render = async (id: string) => {
    const keyManager = await keyManagers.get(id);
    return keyManagerDto(keyManager, Object.keys(await keyManagers.secretsOf(id)));
  };

  await app.register(
    async (scope) => {
      const admin = schemaTyped(scope);
      admin.get('/key-managers', { onRequest: adminScope }, async () => {
        const list = (await keyManagers.list()).map(keyManagerInfoDto);
        return { count: list.length, list };
      });
      admin.get(
        '/key-managers/:id',
        { onRequest: adminScope, schema: { params: idParams('id') } },
        async (request) => render(request.params.id),
      );
      admin.post('/key-managers', { onRequest: adminScope }, async (request, reply) => {
        const created = await keyManagers.create(request.body);
        context.changes.changed();
        reply.code(201).send(await render(created.id));
      });
      admin.put(
        '/key-managers/:id',
        { onRequest: adminScope, schema: { params: idParams('id') } },
        async (request) => {
          const updated = await keyManagers.update(request.params.id, request.body);
          context.changes.changed();
          return render(updated.id);
        },
      );
      admin.delete(
        '/key-managers/:id',
        { onRequest: adminScope, schema: { params: idParams('id') } },
        async (request, reply) => {
          await keyManagers.remove(request.params.id);
          context.changes.changed();
          reply.code(200).send();
        },
      );
      admin.post('/key-managers/discover', { onRequest: adminScope }, async (request) => {
        const parts = await readMultipart(request);
        if (!parts.url) throw badRequest('invalid field url: required');
        if (!parts.type) throw badRequest('invalid field type: required');
        return discoverKeyManager(context.outbound, parts.url, parts.type);
      });

      admin.get(
        '/throttling/policies/subscription',
        { onRequest: requireScope(context.tokens, 'apim:tier_view', 'apim:tier_manage', 'apim:admin') },
        async () => {
          const list = SUBSCRIPTION_POLICIES.map(subscriptionPolicyDto);
          return { count: list.length, list };
        },
      );

      admin.get('/environments', { onRequest: adminScope }, async () => {
        const list = gatewayEnvironments(context.config).map((environment) =>
          environmentDto(environment, context.config),
        );
        return { count: list.length, list };
      });
    },
    { prefix: ADMIN_API },
  );
}
