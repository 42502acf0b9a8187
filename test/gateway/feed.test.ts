import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublisherApi } from '../../scripts/lib/api-client/publisher.ts';
import { createGateway, type Gateway } from '../../services/gateway/server.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import {
  call,
  clientOf,
  createTestState,
  type EchoBackend,
  issueClient,
  managementUrlOf,
  startEchoBackend,
  type TestState,
} from '../support/gateway.ts';
import { freePort } from '../support/ports.ts';
import { openDefinition, publishApi } from '../support/publish-api.ts';

let state: TestState;
let backend: EchoBackend;
let apim: RunningApiManager | undefined;
let publisher: PublisherApi;
let client: Agent;
const gateways: Gateway[] = [];

const startFeedGateway = async (apiManagerUrl: string) => {
  const gateway = await createGateway(state.config({ obkit: { api_manager: { url: apiManagerUrl } } }), {
    feedWaitSeconds: 2,
    feedRetryMs: 100,
  });
  gateways.push(gateway);
  return gateway;
};

beforeAll(async () => {
  state = await createTestState({ obkit: { api_manager: { port: 0 } } });
  backend = await startEchoBackend(state);
  apim = await startApiManager({ config: state.config({ obkit: { api_manager: { port: 0 } } }) });
  publisher = new PublisherApi(apim.managementSession());
  client = clientOf(await issueClient(state.issuing, 'feed-adr'), state.caBundle);
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  await apim?.stop();
  await client?.close();
  await backend?.close();
  await state?.cleanup();
});

describe('readiness without a snapshot', () => {
  it('reports not ready until a snapshot is loaded, and answers API calls with 503', async () => {
    const empty = await createTestState();
    const gateway = await createGateway(
      empty.config({ obkit: { api_manager: { url: 'https://localhost:1' } } }),
      { feedRetryMs: 100 },
    );
    const probe = clientOf(undefined, empty.caBundle);
    const recipient = clientOf(await issueClient(empty.issuing, 'early'), empty.caBundle);
    try {
      const ready = await call(probe, `${managementUrlOf(gateway)}/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.body.checks.snapshot).toMatch(/^DOWN/);
      const early = await call(recipient, `${gateway.url}/anything`);
      expect(early.status).toBe(503);
      expect(early.body.error).toBe('temporarily_unavailable');
    } finally {
      await gateway.close();
      await probe.close();
      await recipient.close();
      await empty.cleanup();
    }
  });
});

describe('configuration feed from api-manager', () => {
  let apiManagerUrl: string;
  let first: Gateway;

  it('serves an API published on api-manager, and keeps the snapshot on disk', async () => {
    apiManagerUrl = apim!.url;
    first = await startFeedGateway(apiManagerUrl);
    await publishApi(publisher, {
      definition: openDefinition('Status', '/status'),
      name: 'StatusAPI',
      version: '1.0',
      context: '/status-api/{version}',
      endpoint: `${backend.url}/backend`,
    });
    await expect
      .poll(async () => (await call(client, `${first.url}/status-api/1.0/status`)).status === 200, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe(true);
    expect(backend.last().url).toBe('/backend/status');
    const ready = await call(client, `${managementUrlOf(first)}/health/ready`);
    expect(ready.status).toBe(200);
    expect(existsSync(join(state.dir, 'gateway', 'snapshot.json'))).toBe(true);
  });

  it('picks up a change within the long poll, without a restart', async () => {
    const before = first.snapshotVersion;
    await publishApi(publisher, {
      definition: openDefinition('Second', '/second'),
      name: 'SecondAPI',
      version: '1.0',
      context: '/second-api/{version}',
      endpoint: `${backend.url}/second-backend`,
    });
    await expect.poll(() => first.snapshotVersion !== before, { timeout: 5000, interval: 50 }).toBe(true);
    await expect
      .poll(async () => (await call(client, `${first.url}/second-api/1.0/second`)).status === 200, {
        timeout: 5000,
        interval: 50,
      })
      .toBe(true);
  });

  it('keeps serving while api-manager is stopped', async () => {
    await apim!.stop();
    apim = undefined;
    for (let i = 0; i < 3; i++) {
      expect((await call(client, `${first.url}/status-api/1.0/status`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect((await call(client, `${managementUrlOf(first)}/health/ready`)).status).toBe(200);
  });

  it('serves the disk copy after a restart while api-manager is still down', async () => {
    const version = first.snapshotVersion;
    await first.close();
    gateways.splice(gateways.indexOf(first), 1);
    const restarted = await startFeedGateway(apiManagerUrl);
    expect(restarted.snapshotVersion).toBe(version);
    expect((await call(client, `${restarted.url}/status-api/1.0/status`)).status).toBe(200);
    expect((await call(client, `${restarted.url}/second-api/1.0/second`)).status).toBe(200);
    expect((await call(client, `${managementUrlOf(restarted)}/health/ready`)).status).toBe(200);
  });
});

describe('first snapshot', () => {
  it('is taken as soon as api-manager answers, without the back-off a later outage gets', async () => {
    const fresh = await createTestState();
    const port = await freePort();
    // A retry delay far longer than the wait below: only the start-up retry can meet it.
    const gateway = await createGateway(
      fresh.config({ obkit: { api_manager: { url: `https://localhost:${port}` } } }),
      { feedRetryMs: 120_000, feedWaitSeconds: 2 },
    );
    const probe = clientOf(undefined, fresh.caBundle);
    let late: RunningApiManager | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await call(probe, `${managementUrlOf(gateway)}/health/ready`)).status).toBe(503);
      late = await startApiManager({ config: fresh.config({ obkit: { api_manager: { port } } }) });
      await expect
        .poll(async () => (await call(probe, `${managementUrlOf(gateway)}/health/ready`)).status === 200, {
          timeout: 5000,
          interval: 50,
        })
        .toBe(true);
    } finally {
      await gateway.close();
      await late?.stop();
      await probe.close();
      await fresh.cleanup();
    }
  }, 120_000);
});
