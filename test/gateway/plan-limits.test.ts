import { randomBytes } from 'node:crypto';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PLAN_USAGE_PATH } from '../../lib/gateway-feed/plan-usage.ts';
import type { IssuedCertificate } from '../../lib/pki/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { postgresTarget } from '../support/database.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  type EchoBackend,
  issueClient,
  keyManagerEntry,
  snapshotOf,
  startEchoBackend,
  startGateway,
  startKeyManager,
  type TestKeyManager,
  type TestState,
} from '../support/gateway.ts';

/**
 * Business-plan limits across gateway replicas: two gateways, each reporting its usage to its own
 * api-manager replica, the two on one PostgreSQL schema, admit one plan between them (Bronze: 3 a
 * minute), not one each. Reports are asked for explicitly (`reportPlanUsage`) instead of waited for.
 */

const postgres = await postgresTarget();
if (!postgres) console.log('plan-limit replica tests skipped: set OBKIT_TEST_DATABASE_URL');

let state: TestState;
let backend: EchoBackend;
let keyManager: TestKeyManager;
let recipient: IssuedCertificate;
let client: Agent;
const managers: RunningApiManager[] = [];
const gateways: Gateway[] = [];
const schema = `api_manager_plans_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  if (!postgres) return;
  state = await createTestState();
  backend = await startEchoBackend(state);
  keyManager = await startKeyManager(state);
  recipient = await issueClient(state.issuing, 'adr-plans');
  client = clientOf(recipient, state.caBundle);
  const products = apiEntry('ProductsAPI', '/cds-au/v1/banking', `${backend.url}/products-backend`, [
    { target: '/limited', verb: 'GET' },
  ]);
  const snapshot = snapshotOf({
    apis: [products],
    keyManagers: [keyManagerEntry(keyManager)],
    applications: [
      {
        applicationId: 'app-bronze',
        name: 'Bronze app',
        owner: 'admin',
        keys: [{ keyManager: 'OBKM', consumerKey: 'bronze-client', keyType: 'PRODUCTION' }],
        subscriptions: [
          { subscriptionId: 's-1', apiId: products.apiId, throttlingPolicy: 'Bronze', status: 'UNBLOCKED' },
        ],
      },
    ],
  });
  for (let replica = 0; replica < 2; replica++) {
    const manager = await startApiManager({
      config: state.config({ obkit: { api_manager: { port: 0 }, database: { url: postgres.url } } }),
      schema,
    });
    managers.push(manager);
    const gateway = await startGateway(
      state,
      { planUsage: 'api-manager' },
      { obkit: { api_manager: { url: manager.url } } },
    );
    await gateway.setSnapshot(snapshot);
    gateways.push(gateway);
  }
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});

afterAll(async () => {
  vi.useRealTimers();
  for (const gateway of gateways) await gateway.close();
  for (const manager of managers) await manager.stop();
  await client?.close();
  await backend?.close();
  await keyManager?.close();
  await state?.cleanup();
  await postgres?.dropSchema(schema);
});

describe.skipIf(!postgres)('business-plan limits on two gateways and two api-manager replicas', () => {
  it('admits the plan once between the gateways, refuses with 429 + Retry-After on both, and resets with the window', async () => {
    const token = await keyManager.token('bronze-client', recipient.certificatePem);
    const limited = (gateway: Gateway) =>
      call(client, `${gateway.url}/cds-au/v1/banking/limited`, {
        headers: { authorization: `Bearer ${token}` },
      });
    // Twice round: the first gateway to report learns the second's usage on the second round.
    const reportAll = async () => {
      for (let round = 0; round < 2; round++) {
        for (const gateway of gateways) await gateway.reportPlanUsage();
      }
    };
    const [one, two] = gateways as [Gateway, Gateway];

    expect((await limited(one)).status).toBe(200);
    expect((await limited(one)).status).toBe(200);
    await reportAll();
    expect((await limited(two)).status).toBe(200);
    await reportAll();
    // Three between them: each refuses now, though neither admitted three itself.
    for (const gateway of [two, one]) {
      const refused = await limited(gateway);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: 'too_many_requests',
        error_description: 'request limit exceeded',
      });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }

    vi.setSystemTime(Date.now() + 61_000);
    expect((await limited(two)).status).toBe(200);
  });

  it('takes usage reports only from the gateway (its internal client certificate)', async () => {
    const report = await call(client, `${managers[0]!.url}${PLAN_USAGE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ windows: [{ key: 'app-bronze:x', hits: 0, windowMs: 60_000 }] }),
    });
    expect(report.status).toBe(403);
    expect(report.body.code).toBe(403);
  });
});
