import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { REVOCATIONS_PATH } from '../../lib/gateway-feed/revocations.ts';
import type { SnapshotKeyManager } from '../../lib/gateway-feed/snapshot.ts';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  type EchoBackend,
  keyManagerEntry,
  snapshotOf,
  startEchoBackend,
  startGateway,
  startKeyManager,
  type TestKeyManager,
  type TestState,
} from '../support/gateway.ts';
import {
  clientAssertion,
  insertCdrClient,
  requestClientCredentialsToken,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

/**
 * Revocation through the gateway, over real TLS with the real identity server: tokens revoked at
 * /oauth2/revoke, and every token of a deleted client, are refused by every gateway replica within 5 s,
 * whether the gateway had them cached or never saw them (INTERFACES.md §7). Each wait is a poll bounded
 * by the 5 s promise, never a fixed sleep.
 */

const PROMISE_MS = 5000;
const SCOPE = 'bank:accounts.basic:read';

let state: TestState;
let is: StartedIdentityServer;
let backend: EchoBackend;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let keys: RecipientKeys;
let gateways: Gateway[];
let recipient: Agent;
let otherKeyManager: TestKeyManager;

beforeAll(async () => {
  state = await createTestState();
  is = await startIdentityServer({ pkiDir: state.pki.dir });
  backend = await startEchoBackend(state);
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  otherKeyManager = await startKeyManager(state);
  recipient = clientOf(
    { certificatePem: is.clientIdentity.certificatePem, keyPem: is.clientIdentity.keyPem },
    state.caBundle,
  );
  const api = apiEntry('ProductsAPI', '/cds-au/v1/banking', backend.url, [
    { target: '/products', verb: 'GET', scopes: [SCOPE] },
  ]);
  const snapshot = snapshotOf({
    apis: [api],
    keyManagers: [
      identityServerKeyManager(),
      // A key manager whose feed cannot be reached: its tokens are never known not to be revoked.
      keyManagerEntry(otherKeyManager, {
        name: 'Unreachable feed',
        revocationFeed: 'https://localhost:1/internal/gateway/v1/revocations',
      }),
    ],
    regulatoryApis: ['ProductsAPI'],
  });
  gateways = [await startGateway(state), await startGateway(state)];
  for (const gateway of gateways) await gateway.setSnapshot(snapshot);
}, 120_000);

afterAll(async () => {
  for (const gateway of gateways ?? []) await gateway.close();
  await recipient?.close();
  await otherKeyManager?.close();
  await jwks?.close();
  await backend?.close();
  await is?.close();
  await state?.cleanup();
}, 60_000);

function identityServerKeyManager(overrides: Partial<SnapshotKeyManager> = {}): SnapshotKeyManager {
  return keyManagerEntry(
    // The identity server's tokens name it as their audience.
    { issuer: is.issuer, jwksUri: `${is.url}/oauth2/jwks`, audience: is.url },
    { consumerKeyClaim: 'client_id', revocationFeed: `${is.url}${REVOCATIONS_PATH}`, ...overrides },
  );
}

async function newClient(): Promise<string> {
  return insertCdrClient(is.db, { jwksUri: jwks.url, scope: `openid cdr:registration ${SCOPE}` });
}

async function tokenOf(clientId: string, scope = SCOPE): Promise<string> {
  const reply = await requestClientCredentialsToken(is, { clientId, keys, scope });
  expect(reply.status, reply.text).toBe(200);
  return reply.json().access_token as string;
}

function products(gateway: Gateway, token: string) {
  return call(recipient, `${gateway.url}/cds-au/v1/banking/products`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

/** The status every gateway answers for the token, polled until all refuse it or the promise is broken. */
async function expectRefusedEverywhere(token: string): Promise<void> {
  const started = Date.now();
  for (const gateway of gateways) {
    await expect
      .poll(async () => (await products(gateway, token)).status, {
        timeout: Math.max(PROMISE_MS - (Date.now() - started), 1),
        interval: 100,
      })
      .toBe(401);
    const refused = await products(gateway, token);
    expect(refused.body.error).toBe('invalid_token');
    expect(refused.body.error_description).toMatch(/revoked/);
  }
}

async function revokeAtIdentityServer(clientId: string, token: string): Promise<void> {
  const revoked = await is.request('/oauth2/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token,
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(keys, clientId, is.issuer),
    }).toString(),
  });
  expect(revoked.status, revoked.text).toBe(200);
}

describe('a token revoked at /oauth2/revoke', () => {
  it('is refused by both gateways within 5 s, the one that had it cached and the one that never saw it', async () => {
    const clientId = await newClient();
    const token = await tokenOf(clientId);
    // Only the first gateway validates (and caches) the token before it is revoked.
    expect((await products(gateways[0]!, token)).status).toBe(200);
    await revokeAtIdentityServer(clientId, token);
    await expectRefusedEverywhere(token);
  });

  it('leaves the same client’s other tokens alone', async () => {
    const clientId = await newClient();
    const [revoked, kept] = [await tokenOf(clientId), await tokenOf(clientId)];
    await revokeAtIdentityServer(clientId, revoked);
    await expectRefusedEverywhere(revoked);
    for (const gateway of gateways) expect((await products(gateway, kept)).status).toBe(200);
  });
});

describe('the tokens of a deleted client', () => {
  it('are all refused by both gateways within 5 s, cached or never seen', async () => {
    const clientId = await newClient();
    const cached = await tokenOf(clientId);
    const neverSeen = await tokenOf(clientId);
    const manager = await tokenOf(clientId, 'cdr:registration');
    for (const gateway of gateways) expect((await products(gateway, cached)).status).toBe(200);

    const deleted = await is.request(`/api/openbanking/dynamic-client-registration/register/${clientId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${manager}` },
    });
    expect(deleted.status, deleted.text).toBe(204);
    await expectRefusedEverywhere(cached);
    await expectRefusedEverywhere(neverSeen);
  });
});

describe('when the gateway cannot know what was revoked', () => {
  it('refuses the tokens of a key manager whose revocation feed it has never reached, with 503', async () => {
    const token = await otherKeyManager.token('unchecked-client', is.clientIdentity.certificatePem, {
      scope: SCOPE,
    });
    const refused = await products(gateways[0]!, token);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('temporarily_unavailable');
    expect(refused.headers['retry-after']).toBeDefined();
  });

  it('refuses them with 503 once its feed stops answering for longer than 5 s', async () => {
    const feed = await startSilencingFeed();
    const gateway = await startGateway(state);
    try {
      await gateway.setSnapshot(
        snapshotOf({
          apis: [
            apiEntry('ProductsAPI', '/cds-au/v1/banking', backend.url, [
              { target: '/products', verb: 'GET', scopes: [SCOPE] },
            ]),
          ],
          keyManagers: [keyManagerEntry(otherKeyManager, { revocationFeed: feed.url })],
          regulatoryApis: ['ProductsAPI'],
        }),
      );
      const token = await otherKeyManager.token('client-of-a-silent-feed', is.clientIdentity.certificatePem, {
        scope: SCOPE,
      });
      await expect.poll(async () => (await products(gateway, token)).status, { timeout: 5000 }).toBe(200);
      await expect
        .poll(async () => (await products(gateway, token)).status, { timeout: 15_000, interval: 250 })
        .toBe(503);
    } finally {
      await gateway.close();
      await feed.close();
    }
  });
});

/** A revocation feed that answers its first poll (nothing revoked) and then holds every later one forever. */
async function startSilencingFeed() {
  let answered = false;
  const server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(state.pki.serverCertificate),
      key: await readFile(state.pki.serverKey),
    },
    (_req, res) => {
      if (answered) return;
      answered = true;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ cursor: 0, complete: true, revocations: [] }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}${REVOCATIONS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
