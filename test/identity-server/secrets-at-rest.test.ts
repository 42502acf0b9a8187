import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, deepMerge } from '../../lib/config/index.ts';
import { createIdentityServer, type IdentityServer } from '../../services/identity-server/server.ts';
import { postgresTarget } from '../support/database.ts';
import { type StartedIdentityServer, send, startIdentityServer } from '../support/identity-server.ts';

/**
 * Signing keys and key-manager client secrets are stored encrypted under a key kept outside the
 * database; plaintext rows of an earlier version are encrypted at start; a wrong key refuses the start
 * naming the setting; a rotated key re-encrypts everything; nothing is lost on the way.
 */

const postgres = await postgresTarget();
const targets = [
  { name: 'PGlite', databaseUrl: undefined },
  ...(postgres ? [{ name: 'PostgreSQL', databaseUrl: postgres.url }] : []),
];

describe.each(targets)('secrets at rest on $name', ({ databaseUrl }) => {
  const schema = `identity_server_sar_${randomBytes(4).toString('hex')}`;
  let is: StartedIdentityServer;
  /** The server now serving the state directory (restarted by the tests). */
  let current: IdentityServer;
  let app: { client_id: string; client_secret: string };

  const restart = async (overrides: Record<string, unknown> = {}) => {
    await current.close();
    current = await createIdentityServer(withOverrides(is.config, overrides), { schema });
    return current;
  };
  const tokenStatus = async () => {
    const basic = Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64');
    const response = await send(`${current.url}/oauth2/token`, is.agent(null), {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=openid',
    });
    return response.status;
  };
  const publishedKids = async () =>
    (await current.db.query<{ kid: string }>('SELECT kid FROM signing_keys ORDER BY kid')).rows.map(
      (row) => row.kid,
    );
  /** Every stored row of both tables, as the text a copy of the database would show. */
  const storedText = async () =>
    (
      await current.db.query<{ text: string }>(
        `SELECT (SELECT coalesce(json_agg(k), '[]'::json) FROM signing_keys k)::text
             || (SELECT coalesce(json_agg(c), '[]'::json) FROM clients c)::text AS text`,
      )
    ).rows[0]!.text;
  const privateJwks = async () => {
    const { rows } = await current.db.query<{ sealed_private_jwk: string }>(
      'SELECT sealed_private_jwk FROM signing_keys',
    );
    return rows.map((row) => JSON.parse(current.secrets.open(row.sealed_private_jwk)) as JWK);
  };

  beforeAll(async () => {
    is = await startIdentityServer({ databaseUrl, schema });
    current = is.server;
    const created = await is.request('/keymanager-operations/dcr/register', {
      method: 'POST',
      headers: { authorization: is.adminAuthorization, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'sealed-app', grant_types: ['client_credentials'] }),
    });
    expect(created.status, created.text).toBe(201);
    app = created.json();
  });
  afterAll(async () => {
    await current?.close();
    await is?.close();
    if (databaseUrl) await postgres!.dropSchema(schema);
  });

  it('stores private signing keys and client secrets encrypted, never in clear', async () => {
    const text = await storedText();
    const keys = await privateJwks();
    expect(keys.map((jwk) => jwk.alg).sort()).toEqual(['ES256', 'PS256']);
    for (const jwk of keys) expect(text).not.toContain(jwk.d);
    expect(text).not.toContain(app.client_secret);
    const { rows } = await current.db.query<{ private_jwk: unknown; client_secret: unknown }>(
      `SELECT k.private_jwk, c.client_secret FROM signing_keys k, clients c WHERE c.client_id = $1`,
      [app.client_id],
    );
    expect(rows.every((row) => row.private_jwk === null && row.client_secret === null)).toBe(true);
    expect(await tokenStatus()).toBe(200);
  });

  it('encrypts at start the plaintext rows an earlier version wrote, losing nothing', async () => {
    const kids = await publishedKids();
    // What the previous version stored: private JWKs and the secret in clear, nothing sealed.
    for (const jwk of await privateJwks()) {
      await current.db.query(
        'UPDATE signing_keys SET private_jwk = $2::jsonb, sealed_private_jwk = NULL WHERE kid = $1',
        [jwk.kid, JSON.stringify(jwk)],
      );
    }
    await current.db.query(
      'UPDATE clients SET client_secret = $2, client_secret_sealed = NULL WHERE client_id = $1',
      [app.client_id, app.client_secret],
    );
    await restart();
    const text = await storedText();
    expect(text).not.toContain(app.client_secret);
    for (const jwk of await privateJwks()) expect(text).not.toContain(jwk.d);
    expect(await publishedKids()).toEqual(kids);
    expect(await tokenStatus()).toBe(200);
  });

  it('refuses to start with another key, naming the setting, and changes nothing', async () => {
    const before = await storedText();
    await current.close();
    const other = randomBytes(32).toString('base64');
    const refusal = await createIdentityServer(
      withOverrides(is.config, { obkit: { secrets: { encryption_key: other } } }),
      { schema },
    ).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).key).toBe('obkit.secrets.encryption_key');
    expect((refusal as Error).message).toMatch(
      /encrypted with key id \S+, but the key from obkit\.secrets\.encryption_key \(OBKIT_ENCRYPTION_KEY\)/,
    );
    expect((refusal as Error).message).not.toContain(other);
    current = await createIdentityServer(withOverrides(is.config, {}), { schema });
    expect(await storedText()).toBe(before);
    expect(await tokenStatus()).toBe(200);
  });

  it('rotates: the previous key still opens, and everything is re-encrypted under the new one', async () => {
    const kids = await publishedKids();
    const previous = (await readFile(join(is.stateDir, 'encryption.key'), 'utf8')).trim();
    const next = randomBytes(32).toString('base64');
    await restart({ obkit: { secrets: { encryption_key: next, previous_encryption_keys: [previous] } } });
    const prefix = current.secrets.currentPrefix;
    const { rows } = await current.db.query<{ sealed: string }>(
      `SELECT sealed_private_jwk AS sealed FROM signing_keys
        UNION ALL SELECT client_secret_sealed FROM clients WHERE client_secret_sealed IS NOT NULL`,
    );
    expect(rows.length).toBe(3);
    for (const row of rows) expect(row.sealed.startsWith(prefix)).toBe(true);
    expect(await publishedKids()).toEqual(kids);
    expect(await tokenStatus()).toBe(200);
    // The old key alone no longer opens them.
    await current.close();
    const refusal = await createIdentityServer(withOverrides(is.config, {}), { schema }).catch(
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(ConfigError);
    current = await createIdentityServer(
      withOverrides(is.config, { obkit: { secrets: { encryption_key: next } } }),
      { schema },
    );
    expect(await tokenStatus()).toBe(200);
  });
});

/** The same configuration on a new port (the first server wrote its bound URL into it). */
function withOverrides(config: Config, overrides: Record<string, unknown>): Config {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  return deepMerge(
    deepMerge(copy, { obkit: { identity_server: { url: '' } } }),
    overrides,
  ) as unknown as Config;
}
