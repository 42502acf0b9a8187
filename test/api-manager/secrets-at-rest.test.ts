import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, deepMerge, loadConfig } from '../../lib/config/index.ts';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { ClientStore } from '../../services/api-manager/auth/clients.ts';
import { type ApiManager, createApiManager } from '../../services/api-manager/server.ts';
import { postgresTarget } from '../support/database.ts';

/**
 * api-manager's secrets at rest: the key is outside its database (the `master_key` table of earlier
 * versions is emptied into it and dropped), management client secrets and its signing key are sealed,
 * application client secrets are kept only as hashes, and nothing stops working on the way.
 */

const postgres = await postgresTarget();
const targets = [
  { name: 'PGlite', databaseUrl: undefined },
  ...(postgres ? [{ name: 'PostgreSQL', databaseUrl: postgres.url }] : []),
];
const ADMIN = { username: 'admin', password: randomBytes(18).toString('base64url') };

describe.each(targets)('api-manager secrets at rest on $name', ({ databaseUrl }) => {
  const schema = `api_manager_sar_${randomBytes(4).toString('hex')}`;
  let stateDir: string;
  let config: Config;
  let manager: ApiManager;
  let dispatcher: Agent;
  let management: { clientId: string; clientSecret: string };
  let application: { clientId: string; clientSecret: string };

  const start = (overrides: Record<string, unknown> = {}) =>
    createApiManager(deepMerge(structuredClone(config) as never, overrides) as unknown as Config, {
      schema,
      databaseUrl: databaseUrl ?? '',
      dataDir: join(stateDir, 'data', 'api-manager'),
    });
  const restart = async (overrides: Record<string, unknown> = {}) => {
    await manager.close();
    manager = await start(overrides);
  };
  const post = async (path: string, authorization: string, body: string, type: string) => {
    const response = await request(`${manager.url}${path}`, {
      method: 'POST',
      headers: { authorization, 'content-type': type },
      body,
      dispatcher,
    });
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
  };
  const basic = (user: string, secret: string) =>
    `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
  const tokenStatus = async (client: { clientId: string; clientSecret: string }) =>
    (
      await post(
        '/oauth2/token',
        basic(client.clientId, client.clientSecret),
        'grant_type=client_credentials',
        'application/x-www-form-urlencoded',
      )
    ).status;
  const register = async () => {
    const answer = await post(
      '/client-registration/v0.17/register',
      basic(ADMIN.username, ADMIN.password),
      JSON.stringify({ clientName: 'sealed-management', owner: 'admin', grantType: 'client_credentials' }),
      'application/json',
    );
    expect(answer.status).toBe(200);
    return { clientId: String(answer.body.clientId), clientSecret: String(answer.body.clientSecret) };
  };
  const jwksKids = async () => {
    const response = await request(`${manager.url}/oauth2/jwks`, { dispatcher });
    return ((await response.body.json()) as { keys: JWK[] }).keys.map((key) => key.kid);
  };
  /** Every stored row of the tables holding secrets, as a copy of the database would show them. */
  const storedText = async () =>
    (
      await manager.db.query<{ text: string }>(
        `SELECT (SELECT coalesce(json_agg(c), '[]'::json) FROM clients c)::text
             || (SELECT coalesce(json_agg(k), '[]'::json) FROM signing_keys k)::text AS text`,
      )
    ).rows[0]!.text;
  const signingJwk = async () => {
    const { rows } = await manager.db.query<{ sealed_private_jwk: string }>(
      'SELECT sealed_private_jwk FROM signing_keys',
    );
    return JSON.parse(manager.secrets.open(rows[0]!.sealed_private_jwk)) as JWK;
  };

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'obkit-apim-sar-'));
    config = loadConfig({
      env: {},
      overrides: {
        obkit: { state_dir: stateDir, log_level: 'warn', admin: ADMIN, api_manager: { port: 0 } },
      },
    });
    const pki = await ensureSandboxPki(join(stateDir, 'pki'));
    dispatcher = new Agent({ connect: { ca: await readFile(pki.caBundle, 'utf8') } });
    manager = await start();
    management = await register();
    application = await new ClientStore(manager.db, manager.secrets).createApplicationClient({
      clientName: 'sealed-app',
      owner: 'admin',
      grantTypes: ['client_credentials'],
      callbackUrl: null,
    });
  });
  afterAll(async () => {
    await manager?.close();
    await dispatcher?.close();
    if (databaseUrl) await postgres!.dropSchema(schema);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('seals management secrets and the signing key, hashes application secrets; all still authenticate', async () => {
    const text = await storedText();
    expect(text).not.toContain(management.clientSecret);
    expect(text).not.toContain(application.clientSecret);
    expect(text).not.toContain((await signingJwk()).d);
    const { rows } = await manager.db.query<{ secret_encrypted: string | null; secret_hash: string }>(
      'SELECT secret_encrypted, secret_hash FROM clients WHERE client_id = $1',
      [application.clientId],
    );
    expect(rows[0]).toMatchObject({
      secret_encrypted: null,
      secret_hash: expect.stringMatching(/^sha256\./),
    });
    expect(await tokenStatus(management)).toBe(200);
    expect(await tokenStatus(application)).toBe(200);
    expect(await tokenStatus({ ...application, clientSecret: `${application.clientSecret}x` })).toBe(401);
    // The idempotent registration gives the same secret back: it was kept, encrypted.
    expect(await register()).toEqual(management);
  });

  it('moves what an earlier version sealed with its in-database key under the outside key, and drops that key', async () => {
    const kids = await jwksKids();
    const jwk = await signingJwk();
    // What the previous version stored: its key in master_key, v1 values under it, the signing key in clear.
    const masterKey = randomBytes(32);
    await manager.db.exec(
      'CREATE TABLE master_key (id integer PRIMARY KEY CHECK (id = 1), key text NOT NULL)',
    );
    await manager.db.query('INSERT INTO master_key (id, key) VALUES (1, $1)', [masterKey.toString('base64')]);
    for (const [client, hash] of [
      [management, null],
      [application, null],
    ] as const) {
      await manager.db.query(
        'UPDATE clients SET secret_encrypted = $2, secret_hash = $3 WHERE client_id = $1',
        [client.clientId, sealV1(masterKey, client.clientSecret), hash],
      );
    }
    await manager.db.query('UPDATE signing_keys SET private_jwk = $1::jsonb, sealed_private_jwk = NULL', [
      JSON.stringify(jwk),
    ]);
    await restart();
    const table = await manager.db.query<{ exists: boolean }>(
      "SELECT to_regclass('master_key') IS NOT NULL AS exists",
    );
    expect(table.rows[0]!.exists).toBe(false);
    const text = await storedText();
    expect(text).not.toContain(management.clientSecret);
    expect(text).not.toContain(application.clientSecret);
    expect(text).not.toContain(jwk.d);
    expect(text).not.toContain('"v1.');
    expect(await jwksKids()).toEqual(kids);
    expect(await tokenStatus(management)).toBe(200);
    expect(await tokenStatus(application)).toBe(200);
  });

  it('refuses to start with another key, naming the setting', async () => {
    await manager.close();
    const refusal = await start({
      obkit: { secrets: { encryption_key: randomBytes(32).toString('base64') } },
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).key).toBe('obkit.secrets.encryption_key');
    manager = await start();
    expect(await tokenStatus(management)).toBe(200);
  });
});

/** The earlier version's sealed format (services/api-manager/secrets.ts before the key moved out). */
function sealV1(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), data]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64')))
    .join('.');
}
