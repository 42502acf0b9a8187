import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../services/gateway/server.ts';
import { createIdentityServer, type IdentityServer } from '../../services/identity-server/server.ts';
import { type DcrHarness, startHarness } from '../support/dcr.ts';
import { DCR_CONTEXT as CONTEXT, dcrSnapshot, gatewayConfig } from '../support/dcr-gateway.ts';
import { call } from '../support/gateway.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * The identity server goes away behind a gateway and comes back on the same address: meanwhile the
 * gateway answers at once with 502/503 JSON and Retry-After (the DCR backend refused, the revocation
 * status of tokens unknown once the feed is silent), and serves normally again as soon as it returns.
 */

let register: TestRegister;
let dcr: DcrHarness;
let gateway: Gateway;
let gatewayDir: string;
let recipient: Agent;
let clientId: string;
let token: string;
let returned: IdentityServer | undefined;

beforeAll(async () => {
  register = await startMockRegister();
  dcr = await startHarness({ register });
  const { product, client } = await dcr.registered();
  clientId = client.client_id as string;
  token = await dcr.accessToken(clientId, product);
  gatewayDir = await mkdtemp(join(tmpdir(), 'obkit-outage-gw-'));
  gateway = await createGateway(gatewayConfig(register.pki.dir, gatewayDir), { feed: 'manual' });
  await gateway.setSnapshot(dcrSnapshot(dcr.url, dcr.issuer));
  recipient = new Agent({
    connect: { ca: register.caPem, cert: dcr.certificate.certificate, key: dcr.certificate.key },
  });
});
afterAll(async () => {
  await recipient?.close();
  await gateway?.close();
  await returned?.close();
  await dcr?.close();
  await register?.close();
  if (gatewayDir) await rm(gatewayDir, { recursive: true, force: true });
});

async function timed<T>(send: () => Promise<T>): Promise<{ answer: T; ms: number }> {
  const started = performance.now();
  const answer = await send();
  return { answer, ms: performance.now() - started };
}

describe('the identity server down behind the gateway', () => {
  it('is answered at once with 502/503 JSON and Retry-After, and served normally again as soon as it returns', async () => {
    const read = () =>
      call(recipient, `${gateway.url}${CONTEXT}/register/${clientId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    const registration = async () =>
      call(recipient, `${gateway.url}${CONTEXT}/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: await dcr.requestFor(await dcr.seed()),
      });
    await expect.poll(async () => (await read()).status, { timeout: 20_000 }).toBe(200);

    const port = Number(new URL(dcr.url).port);
    await dcr.server.server.close();
    const downAt = Date.now();
    const during: { status: number; ms: number; retryAfter: unknown; json: boolean }[] = [];
    // Past the revocation feed's staleness bound (5 s), so both ways of failing are seen.
    while (Date.now() - downAt < 6500) {
      for (const send of [read, registration]) {
        const { answer, ms } = await timed(send);
        during.push({
          status: answer.status,
          ms,
          retryAfter: answer.headers['retry-after'],
          json: typeof answer.body === 'object',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(
      during.filter((answer) => ![502, 503].includes(answer.status) || !answer.json || !answer.retryAfter),
    ).toEqual([]);
    expect(new Set(during.map((answer) => answer.status))).toEqual(new Set([502, 503]));

    const config = structuredClone(dcr.server.config);
    config.obkit.identity_server.port = port;
    returned = await createIdentityServer(config);
    const backAt = Date.now();
    let recoveredAt = 0;
    await expect
      .poll(
        async () => {
          const status = (await read()).status;
          if (status === 200) recoveredAt = Date.now();
          return status;
        },
        { timeout: 10_000, interval: 20 },
      )
      .toBe(200);
    expect((await registration()).status).toBe(201);
    const slowest = Math.max(...during.map((answer) => answer.ms));
    console.log(
      `identity-server outage: ${during.length} requests while down, all 502/503 + Retry-After, slowest answer ${Math.round(slowest)} ms; ` +
        `served again ${recoveredAt - backAt} ms after it listened again`,
    );
    // "At once": well before any connect or header timeout of the gateway (5 s).
    expect(slowest).toBeLessThan(5000);
    expect(recoveredAt - backAt).toBeLessThan(1000);
  });
});
