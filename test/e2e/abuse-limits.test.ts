import { randomBytes } from 'node:crypto';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../lib/cdr/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import { postgresTarget } from '../support/database.ts';
import { type DcrHarness, REGISTRATION_PATH } from '../support/dcr.ts';
import { DCR_CONTEXT, type ReplicaPair, startReplicaPair } from '../support/dcr-gateway.ts';
import type { StartedIdentityServer } from '../support/dcr-identity-server.ts';
import { call } from '../support/gateway.ts';
import { TEST_ADMIN_PASSWORD } from '../support/identity-server.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * The identity server's abuse limits over real mutual TLS with real keys, on two replicas sharing one
 * PostgreSQL schema (each behind its own gateway): per client and per source on the token endpoint and
 * DCR, and the admin lockout. Each limit refuses with 429 + Retry-After in the surface's shape, holds
 * across the replicas, and resets when its window ends. Time moves by setting the clock (only `Date`
 * is faked), never by waiting.
 */

const postgres = await postgresTarget();
if (!postgres)
  console.log('abuse-limit tests skipped: set OBKIT_TEST_DATABASE_URL to a reachable PostgreSQL server');

const LIMITS = {
  token_per_client: { requests: 3, window_seconds: 60 },
  token_per_source: { requests: 5, window_seconds: 60 },
  dcr_per_client: { requests: 4, window_seconds: 60 },
  dcr_per_source: { requests: 6, window_seconds: 60 },
  admin_lockout: { max_failures: 3, window_seconds: 60, lockout_seconds: 30 },
};

let register: TestRegister;
let pair: ReplicaPair;
let dcr: DcrHarness;
let replicaB: StartedIdentityServer;
let urlB: string;
let gateways: Gateway[];
let recipient: Agent;
let otherRecipient: Agent;
let noCertificate: Agent;
const schema = `identity_server_limits_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  if (!postgres) return;
  register = await startMockRegister();
  pair = await startReplicaPair({ register, databaseUrl: postgres.url, schema, obkit: { limits: LIMITS } });
  ({ dcr, replicaB, urlB, gateways } = pair);
  const agent = (certificate?: { certificate: string; key: string }) =>
    new Agent({
      connect: {
        ca: register.caPem,
        ...(certificate ? { cert: certificate.certificate, key: certificate.key } : {}),
      },
    });
  recipient = agent(dcr.certificate);
  otherRecipient = agent(dcr.otherCertificate);
  noCertificate = agent();
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});
afterAll(async () => {
  vi.useRealTimers();
  for (const agent of [recipient, otherRecipient, noCertificate]) await agent?.close();
  await pair?.close();
  await register?.close();
  await postgres?.dropSchema(schema);
});

/** Moves the clock on: every window of an earlier test has ended. */
function freshWindows(): void {
  vi.setSystemTime(Date.now() + 10 * 60_000);
}

async function tokenRequest(base: string, clientId: string, key: CryptoKeyLike, agent = recipient) {
  const assertion = await buildClientAssertion({ clientId, audience: `${dcr.url}/oauth2/token`, key });
  return call(agent, `${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'cdr:registration',
      client_id: clientId,
      ...clientAssertionFields(assertion),
    }).toString(),
  });
}
/**
 * After the clock moves, a gateway holds requests (503) until its revocation feed answers again. Asked
 * about another client's registration, a current gateway refuses by itself (401) without calling the
 * identity server, so waiting for it counts nothing against the limits.
 */
async function untilGatewaysCurrent(token: string): Promise<void> {
  for (const gateway of gateways) {
    await expect
      .poll(
        async () =>
          (
            await call(recipient, `${gateway.url}${DCR_CONTEXT}/register/someone-else`, {
              headers: { authorization: `Bearer ${token}` },
            })
          ).status,
        { timeout: 20_000, interval: 100 },
      )
      .toBe(401);
  }
}

type CryptoKeyLike = Parameters<typeof buildClientAssertion>[0]['key'];

function expectRefused(
  answer: { status: number; headers: Record<string, unknown>; body: Record<string, unknown> },
  windowSeconds: number,
) {
  expect(answer.status).toBe(429);
  const retryAfter = Number(answer.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe.skipIf(!postgres)('abuse limits on two identity-server replicas', () => {
  it('limits token requests per client certificate across both replicas, then per source, until the window ends', async () => {
    freshWindows();
    const { product, client } = await dcr.registered();
    const clientId = client.client_id as string;
    // Three requests of one client, alternating replicas: the limit is the pair's, not each one's.
    for (const base of [dcr.url, urlB, dcr.url]) {
      expect((await tokenRequest(base, clientId, product.recipient)).status).toBe(200);
    }
    const refused = await tokenRequest(urlB, clientId, product.recipient);
    expectRefused(refused, 60);
    expect(refused.body).toEqual({ error: 'too_many_requests', error_description: 'request limit exceeded' });

    // Another certificate from the same address is its own client, until the source's 5 are used up.
    const other = await tokenRequest(dcr.url, clientId, product.recipient, otherRecipient);
    expect(other.status).not.toBe(429);
    expectRefused(await tokenRequest(urlB, clientId, product.recipient, otherRecipient), 60);

    vi.setSystemTime(Date.now() + 61_000);
    expect((await tokenRequest(urlB, clientId, product.recipient)).status).toBe(200);
  });

  it('limits DCR calls per client through both gateways and per source, never believing a forwarded address', async () => {
    freshWindows();
    const { product, client } = await dcr.registered(); // DCR call 1 of this certificate and address
    const clientId = client.client_id as string;
    const token = await dcr.accessToken(clientId, product);
    const read = (gateway: Gateway, spoofed: string) =>
      call(recipient, `${gateway.url}${DCR_CONTEXT}/register/${clientId}`, {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': spoofed },
      });
    await untilGatewaysCurrent(token);
    for (const [index, gateway] of [gateways[0]!, gateways[1]!, gateways[0]!].entries()) {
      expect((await read(gateway, `203.0.113.${index}`)).status).toBe(200);
    }
    const refused = await read(gateways[1]!, '203.0.113.9');
    expectRefused(refused, 60);
    expect(refused.body.error).toBe('too_many_requests');

    // Another recipient from the same address (6 calls so far): one more registration call, then the
    // source's limit, whatever address the caller claims.
    const post = (spoofed: string) =>
      call(otherRecipient, `${gateways[1]!.url}${DCR_CONTEXT}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt', 'x-forwarded-for': spoofed },
        body: 'not.a.jwt',
      });
    expect((await post('198.51.100.1')).status).toBe(400);
    expectRefused(await post('198.51.100.2'), 60);
    // Straight to a replica, the same.
    const direct = await dcr.call('POST', REGISTRATION_PATH, {
      body: 'not.a.jwt',
      certificate: dcr.otherCertificate,
    });
    expect(direct.status).toBe(429);

    vi.setSystemTime(Date.now() + 61_000);
    await untilGatewaysCurrent(token);
    expect((await read(gateways[0]!, '203.0.113.10')).status).toBe(200);
  });

  it('locks the admin account on both replicas after repeated bad passwords, logs it once, and lets it in afterwards', async () => {
    freshWindows();
    const warnings = [dcr.server.server.service.logger, replicaB.server.service.logger].map((logger) =>
      vi.spyOn(logger, 'warn'),
    );
    const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
    const scopes = (base: string, password: string) =>
      call(noCertificate, `${base}/api/identity/oauth2/v1.0/scopes`, {
        headers: { authorization: basic(password) },
      });
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;
    for (const base of [dcr.url, urlB, dcr.url]) expect((await scopes(base, wrongPassword)).status).toBe(401);

    // Locked on both replicas, with the right password too: 429 in each surface's shape.
    const locked = await scopes(urlB, TEST_ADMIN_PASSWORD);
    expectRefused(locked, 30);
    expect(locked.body).toMatchObject({ code: 429, message: 'Too Many Requests' });
    const keyManager = await call(noCertificate, `${dcr.url}/keymanager-operations/dcr/register/x`, {
      headers: { authorization: basic(TEST_ADMIN_PASSWORD) },
    });
    expectRefused(keyManager, 30);
    expect(keyManager.body.error).toBe('too_many_requests');

    const lockouts = warnings.flatMap((spy) =>
      spy.mock.calls.filter((args) => args[1] === 'admin account locked after repeated bad passwords'),
    );
    expect(lockouts).toHaveLength(1);
    const logged = JSON.stringify(warnings.flatMap((spy) => spy.mock.calls));
    expect(logged).not.toContain(wrongPassword);
    expect(logged).not.toContain(TEST_ADMIN_PASSWORD);
    for (const spy of warnings) spy.mockRestore();

    vi.setSystemTime(Date.now() + 31_000);
    expect((await scopes(urlB, TEST_ADMIN_PASSWORD)).status).toBe(200);
  });
});
