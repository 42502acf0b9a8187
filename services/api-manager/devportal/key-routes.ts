import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { idParams } from '../../../lib/http/route-schemas.ts';
import { isUniqueViolation, type Queryable } from '../../../lib/storage/index.ts';
import type { KeyManager } from '../admin/key-managers.ts';
import { keyManagerStoreOf } from '../admin/routes.ts';
import { ClientStore } from '../auth/clients.ts';
import { callerOf } from '../auth/require-scope.ts';
import { badRequest, conflict, parseBody } from '../request.ts';
import type { ApplicationRow } from './applications.ts';
import type { KeyManagerConnector } from './key-generation.ts';
import type { Devportal } from './routes.ts';

const generateKeysSchema = z.looseObject({
  keyType: z.enum(['PRODUCTION', 'SANDBOX']).default('PRODUCTION'),
  keyManager: z.string().min(1).default('Resident Key Manager'),
  grantTypesToBeSupported: z.array(z.string()).default(['client_credentials']),
  callbackUrl: z.string().nullish(),
});
type GenerateKeys = z.infer<typeof generateKeysSchema>;

interface KeyRow {
  id: string;
  key_manager: string;
  key_type: string;
  consumer_key: string;
  grant_types: string[];
  callback_url: string | null;
}

/** `/applications/{id}/generate-keys` and `/keys`: OAuth clients of an application at a key manager. */
export function keyRoutes(
  { app, context, applications, manageApps }: Devportal,
  connector: KeyManagerConnector,
): void {
  const keyManagers = keyManagerStoreOf(context);
  const clients = new ClientStore(context.db, context.secrets);

  /** The client at the key manager: the resident one here, any other through its connector. */
  const registerClient = async (keyManager: KeyManager, application: ApplicationRow, input: GenerateKeys) => {
    const request = {
      clientName: `${application.owner}_${application.name}_${input.keyType}`,
      grantTypes: input.grantTypesToBeSupported,
      callbackUrl: input.callbackUrl ?? null,
    };
    if (keyManager.type === 'default') {
      return clients.createApplicationClient({ ...request, owner: application.owner });
    }
    const secrets = await keyManagers.secretsOf(keyManager.id);
    const username = String(keyManager.additionalProperties.Username ?? '');
    const password = secrets.Password ?? '';
    if (!username || !password) {
      throw badRequest(
        `key manager ${keyManager.name} lacks connector credentials (additionalProperties Username/Password)`,
      );
    }
    return connector.registerClient(keyManager, { username, password }, request);
  };

  app.post(
    '/applications/:id/generate-keys',
    { onRequest: manageApps, schema: { params: idParams('id') } },
    async (request) => {
      const application = await applications.get(request.params.id, callerOf(request));
      const input = parseBody(generateKeysSchema, request.body);
      const keyManager = usableKeyManager(await keyManagers.findByName(input.keyManager), input.keyManager);
      const { clientId: consumerKey, clientSecret: consumerSecret } = await registerClient(
        keyManager,
        application,
        input,
      );
      const keyMappingId = await insertKeyMapping(
        context.db,
        application,
        keyManager.name,
        input,
        consumerKey,
      );
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
}

/** `/applications/{id}/keys`: the application's keys, without secrets. */
export function keyListRoutes({ app, context, applications, manageApps }: Devportal): void {
  app.get(
    '/applications/:id/keys',
    { onRequest: manageApps, schema: { params: idParams('id') } },
    async (request) => {
      const application = await applications.get(request.params.id, callerOf(request));
      const rows = await context.db.query<KeyRow>(
        'SELECT * FROM application_keys WHERE application_id = $1 ORDER BY key_manager, key_type',
        [application.id],
      );
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
}

function usableKeyManager(keyManager: KeyManager | undefined, name: string): KeyManager {
  if (!keyManager) throw badRequest(`invalid field keyManager: no key manager named ${name}`);
  if (!keyManager.enabled)
    throw badRequest(`invalid field keyManager: key manager ${keyManager.name} is disabled`);
  if (!keyManager.enableOAuthAppCreation) {
    throw badRequest(
      `invalid field keyManager: key manager ${keyManager.name} does not allow OAuth app creation`,
    );
  }
  return keyManager;
}

/** The application's key row; the consumer secret is the key manager's to keep: shown once, stored nowhere. */
async function insertKeyMapping(
  db: Queryable,
  application: ApplicationRow,
  keyManager: string,
  input: GenerateKeys,
  consumerKey: string,
): Promise<string> {
  const keyMappingId = randomUUID();
  try {
    await db.query(
      `INSERT INTO application_keys (id, application_id, key_manager, key_type, consumer_key, grant_types, callback_url)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
      [
        keyMappingId,
        application.id,
        keyManager,
        input.keyType,
        consumerKey,
        JSON.stringify(input.grantTypesToBeSupported),
        input.callbackUrl ?? null,
      ],
    );
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw conflict(`application ${application.id} already has ${input.keyType} keys from ${keyManager}`);
    }
    throw error;
  }
  return keyMappingId;
}
