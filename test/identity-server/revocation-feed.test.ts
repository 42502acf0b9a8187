import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVOCATIONS_PATH, revocationPageSchema } from '../../lib/gateway-feed/revocations.ts';
import { postgresTarget } from '../support/database.ts';
import { type StartedIdentityServer, startIdentityServer } from '../support/identity-server.ts';

/**
 * The identity server's revocation feed (lib/gateway-feed/revocations.ts), over real mutual TLS: served
 * to the gateway's internal certificate only, incremental by cursor, held until something is revoked —
 * also when it is revoked through another replica sharing the database.
 */

let is: StartedIdentityServer;

beforeAll(async () => {
  is = await startIdentityServer();
});

afterAll(async () => {
  await is?.close();
});

async function poll(server: StartedIdentityServer, query = '') {
  const reply = await server.request(`${REVOCATIONS_PATH}${query}`, { identity: server.gatewayIdentity });
  expect(reply.status, reply.text).toBe(200);
  return revocationPageSchema.parse(reply.json());
}

/** Creates and deletes a key-manager application: every token of it is revoked. */
async function deletedApplication(server: StartedIdentityServer): Promise<string> {
  const created = await server.request('/keymanager-operations/dcr/register', {
    method: 'POST',
    headers: { authorization: server.adminAuthorization, 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: `app-${randomUUID()}`, grant_types: ['client_credentials'] }),
  });
  expect(created.status, created.text).toBe(201);
  const clientId = created.json().client_id as string;
  const deleted = await server.request(`/keymanager-operations/dcr/register/${clientId}`, {
    method: 'DELETE',
    headers: { authorization: server.adminAuthorization },
  });
  expect(deleted.status, deleted.text).toBe(204);
  return clientId;
}

describe('who may read the revocation feed', () => {
  it('refuses a connection without a client certificate, with a recipient’s, or with another internal one', async () => {
    const anotherInternal = await is.pki.issueInternalClient('obkit-api-manager');
    for (const identity of [
      null,
      is.clientIdentity,
      { certificatePem: anotherInternal.certificatePem, keyPem: anotherInternal.keyPem },
    ]) {
      const reply = await is.request(REVOCATIONS_PATH, { identity });
      expect(reply.status).toBe(403);
      expect(reply.json().error).toBe('access_denied');
    }
  });

  it('refuses a malformed cursor or wait with 400', async () => {
    for (const query of ['?after=-1', '?after=x', '?wait=120']) {
      const reply = await is.request(`${REVOCATIONS_PATH}${query}`, { identity: is.gatewayIdentity });
      expect(reply.status, query).toBe(400);
    }
  });
});

describe('what the feed serves', () => {
  it('lists a deleted application by client_id, then only what is newer than the cursor', async () => {
    const first = await deletedApplication(is);
    const all = await poll(is);
    expect(all.complete).toBe(true);
    const listed = all.revocations.find((entry) => entry.value === first);
    expect(listed).toMatchObject({ claim: 'client_id' });
    // In force at least as long as a token issued just before the deletion.
    expect(listed!.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3600);

    expect((await poll(is, `?after=${all.cursor}`)).revocations).toEqual([]);
    const second = await deletedApplication(is);
    const newer = await poll(is, `?after=${all.cursor}`);
    expect(newer.revocations.map((entry) => entry.value)).toEqual([second]);
    expect(newer.cursor).toBeGreaterThan(all.cursor);
  });

  it('holds a poll until something is revoked, and answers it at once then', async () => {
    const { cursor } = await poll(is);
    const started = Date.now();
    const held = poll(is, `?after=${cursor}&wait=20`);
    const clientId = await deletedApplication(is);
    const page = await held;
    expect(page.revocations.map((entry) => entry.value)).toEqual([clientId]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers a held poll with nothing when the wait ends', async () => {
    const { cursor } = await poll(is);
    const page = await poll(is, `?after=${cursor}&wait=1`);
    expect(page).toEqual({ cursor, complete: true, revocations: [] });
  });
});

const postgres = await postgresTarget();
describe.runIf(postgres)('two identity-server replicas on one PostgreSQL database', () => {
  const schema = `identity_server_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  let replicas: StartedIdentityServer[] = [];

  beforeAll(async () => {
    const first = await startIdentityServer({ databaseUrl: postgres!.url, schema });
    // One encryption key for both, as a deployment's replicas share one Secret.
    const encryptionKey = (await readFile(join(first.stateDir, 'encryption.key'), 'utf8')).trim();
    const second = await startIdentityServer({
      databaseUrl: postgres!.url,
      schema,
      pkiDir: first.pki.dir,
      overrides: { obkit: { secrets: { encryption_key: encryptionKey } } },
    });
    replicas = [first, second];
  }, 60_000);

  afterAll(async () => {
    for (const replica of replicas.reverse()) await replica.close();
    await postgres!.dropSchema(schema);
  });

  it('answers a poll held by one replica with a revocation recorded through the other, within 5 s', async () => {
    const [first, second] = replicas as [StartedIdentityServer, StartedIdentityServer];
    const { cursor } = await poll(second);
    const held = poll(second, `?after=${cursor}&wait=20`);
    const clientId = await deletedApplication(first);
    const recordedAt = Date.now();
    const page = await held;
    expect(page.revocations.map((entry) => entry.value)).toEqual([clientId]);
    expect(Date.now() - recordedAt).toBeLessThan(5000);
  });
});
