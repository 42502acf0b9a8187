import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedCertificate } from '../../lib/pki/index.ts';
import { writeSnapshotFile } from '../../services/gateway/feed.ts';
import {
  apiEntry,
  createTestState,
  type EchoBackend,
  issueClient,
  snapshotOf,
  startEchoBackend,
  type TestState,
} from '../support/gateway.ts';

/**
 * Graceful shutdown of a real gateway process under load. What Kubernetes does is modelled: the
 * endpoint leaves the Service (the chart's preStop pause covers that), so the load balancer starts no
 * new request, and SIGTERM arrives while requests — quick ones and ones slower than a second — are in
 * flight on keep-alive connections. None may fail, and the process must exit within its grace period.
 */

const MAIN = new URL('../../services/gateway/main.ts', import.meta.url).pathname;
const SLOW_MS = 1500;

let state: TestState;
let backend: EchoBackend;
/** Answers `/slow` after longer than any grace period here. */
let stuck: EchoBackend;
let recipient: IssuedCertificate;

beforeAll(async () => {
  state = await createTestState();
  backend = await startEchoBackend(state, { slowMs: SLOW_MS });
  stuck = await startEchoBackend(state, { slowMs: 30_000 });
  recipient = await issueClient(state.issuing, 'shutdown-adr');
  await mkdir(join(state.dir, 'gateway'), { recursive: true });
  await writeSnapshotFile(
    join(state.dir, 'gateway', 'snapshot.json'),
    snapshotOf({
      apis: [
        apiEntry('Echo', '/echo/v1', backend.url, [
          { target: '/fast', verb: 'GET', auth: 'None' },
          { target: '/slow', verb: 'GET', auth: 'None' },
        ]),
        apiEntry('Stuck', '/stuck/v1', stuck.url, [{ target: '/slow', verb: 'GET', auth: 'None' }]),
      ],
    }),
  );
});
afterAll(async () => {
  await backend?.close();
  await stuck?.close();
  await state?.cleanup();
});

async function startGatewayProcess(
  graceSeconds: number,
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const file = join(state.dir, `gateway-${graceSeconds}.toml`);
  await writeFile(
    file,
    [
      '[obkit]',
      `state_dir = "${state.dir}"`,
      'log_level = "info"',
      `shutdown_grace_seconds = ${graceSeconds}`,
      '[obkit.gateway]',
      'port = 0',
      '[obkit.api_manager]',
      'url = "https://localhost:1"',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [MAIN, '--config', file], {
    env: { PATH: process.env.PATH ?? '', OBKIT_ADMIN_PASSWORD: 'shutdown-test-password' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /"url":"(https:\/\/[^"]+)".*"msg":"gateway listening"/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', () => reject(new Error(`exited early: ${output}`)));
  });
  return { child, url, output: () => output };
}

function exitOf(child: ChildProcess): Promise<{ code: number | string | null; at: number }> {
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code: code ?? signal, at: Date.now() })),
  );
}

interface Outcome {
  status: number | string;
  connection: string | undefined;
  answeredAt: number;
}

/** `workers` keep-alive connections, each sending requests one after another until `stop` is set. */
function load(url: string, workers: number, control: { stop: boolean; signalledAt?: number }) {
  const outcomes: Outcome[] = [];
  const clients = Array.from(
    { length: workers },
    () =>
      new Client(url, {
        connect: { ca: state.caBundle, cert: recipient.certificatePem, key: recipient.keyPem },
        pipelining: 1,
      }),
  );
  const running = clients.map(async (client, index) => {
    for (let round = 0; !control.stop; round++) {
      const path = (index + round) % 3 === 0 ? '/echo/v1/slow' : '/echo/v1/fast';
      try {
        const response = await client.request({ method: 'GET', path });
        await response.body.text();
        outcomes.push({
          status: response.statusCode,
          connection: response.headers.connection as string | undefined,
          answeredAt: Date.now(),
        });
      } catch (error) {
        outcomes.push({ status: (error as Error).message, connection: undefined, answeredAt: Date.now() });
      }
    }
  });
  return {
    outcomes,
    async finished() {
      await Promise.all(running);
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

describe('gateway shutdown on SIGTERM', () => {
  it('finishes every request in flight under load, closes its connections and exits 0 within the grace period', async () => {
    const grace = 10;
    const { child, url, output } = await startGatewayProcess(grace);
    const exit = exitOf(child);
    const control: { stop: boolean; signalledAt?: number } = { stop: false };
    const traffic = load(url, 12, control);
    // Load until every connection has carried quick and slow requests.
    await expect.poll(() => traffic.outcomes.length, { timeout: 20_000, interval: 50 }).toBeGreaterThan(40);
    // The endpoint has left the Service: no new requests start; those in flight meet the SIGTERM.
    control.stop = true;
    control.signalledAt = Date.now();
    child.kill('SIGTERM');
    await traffic.finished();
    const { code, at } = await exit;

    const failed = traffic.outcomes.filter((outcome) => outcome.status !== 200);
    expect(failed).toEqual([]);
    // Slow requests in flight at the signal were answered well into the drain, each closing its connection.
    const answeredDuringDrain = traffic.outcomes.filter(
      (outcome) => outcome.answeredAt > control.signalledAt! + 300,
    );
    expect(answeredDuringDrain.length).toBeGreaterThan(0);
    expect(answeredDuringDrain.map((outcome) => outcome.connection)).toEqual(
      answeredDuringDrain.map(() => 'close'),
    );
    expect(code).toBe(0);
    expect(at - control.signalledAt).toBeLessThan(grace * 1000);
    expect(output()).toContain('draining requests in flight');
    expect(output()).not.toContain('cutting requests in flight');
  });

  it('exits within the grace period when a request outlasts it', async () => {
    const grace = 2;
    const { child, url, output } = await startGatewayProcess(grace);
    const exit = exitOf(child);
    const client = new Client(url, {
      connect: { ca: state.caBundle, cert: recipient.certificatePem, key: recipient.keyPem },
    });
    const slow = client.request({ method: 'GET', path: '/stuck/v1/slow' }).then(
      (response) => response.statusCode,
      (error: Error) => error.message,
    );
    await expect.poll(() => stuck.recorded.length, { timeout: 10_000 }).toBeGreaterThan(0);
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const { code, at } = await exit;
    expect(code, output()).toBe(0);
    expect(at - signalledAt).toBeLessThan(grace * 1000 + 500);
    expect(output()).toContain('cutting requests in flight');
    expect(await slow).not.toBe(200);
    await client.close();
  });
});
