#!/usr/bin/env node
// Soak (minutes; not part of CI): the stack `obkit up` starts, under steady registrations, tokens and
// gateway calls. Each cycle creates a sandbox software product and registers it through the gateway,
// takes certificate-bound client_credentials tokens (private_key_jwt) at the identity server, reads the
// registration through the gateway with each token, and deletes it. Cycles run at a fixed pace, below
// the sandbox abuse limits (all cycles share one transport certificate and one address): each cycle
// makes 2 + SOAK_TOKENS_PER_CYCLE calls to the DCR endpoint, whose per-client limit (300 a minute) binds
// first; a pace past any limit is refused before the stack starts.
// Reported: RSS and V8 heap of every service at the start, after the warm-up and at the end (growth
// after the warm-up ≤ 10 %), and p50/p99 of each operation per minute.
//   npm run bench -- soak     env: SOAK_MINUTES (5), SOAK_WARMUP_MINUTES (1), SOAK_CYCLES_PER_SECOND (0.75),
//                                  SOAK_TOKENS_PER_CYCLE (4)
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { buildClientAssertion, buildRegistrationRequest, clientAssertionFields } from '../lib/cdr/index.ts';
import { DEFAULT_LIMITS } from '../lib/config/index.ts';
import { DcrApi } from '../scripts/lib/api-client/dcr.ts';
import { IdentityServerApi } from '../scripts/lib/api-client/identity-server.ts';
import { sandboxRecipient } from '../scripts/lib/smoke.ts';
import { resolveTarget, type Target } from '../scripts/lib/target.ts';
import { freeBasePort } from '../test/support/ports.ts';
import { quantile } from './statistics.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MINUTES = Number(process.env.SOAK_MINUTES ?? 5);
const WARMUP_MINUTES = Number(process.env.SOAK_WARMUP_MINUTES ?? 1);
const CYCLES_PER_SECOND = Number(process.env.SOAK_CYCLES_PER_SECOND ?? 0.75);
const TOKENS_PER_CYCLE = Number(process.env.SOAK_TOKENS_PER_CYCLE ?? 4);
const GROWTH_LIMIT = 0.1;
refusePaceOverLimits();

type Operation = 'product (Register)' | 'registration' | 'token' | 'gateway call' | 'deletion';
/** Latencies (ms) per minute of the run and operation. */
const latencies = new Map<number, Map<Operation, number[]>>();
let failures = 0;

const stateDir = await mkdtemp(join(tmpdir(), 'obkit-bench-soak-'));
const basePort = await freeBasePort();
const up = spawn(
  process.execPath,
  [join(ROOT, 'bin', 'obkit.ts'), 'up', '--state-dir', stateDir, '--base-port', String(basePort)],
  {
    cwd: ROOT,
    env: { ...process.env, OBKIT_ADMIN_PASSWORD: '', OBKIT_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
try {
  await started(up);
  const target = await resolveTarget({ 'state-dir': stateDir });
  const services = managementUrls(target);
  // Kept-alive connections, shared by the cycles, as a recipient's client keeps them.
  const tls = {
    ca: target.ca,
    cert: target.clientCertificate!.certificate,
    key: target.clientCertificate!.key,
  };
  const clients: Clients = {
    gateway: new DcrApi(target.http(target.manifest.gateway.url, { tls })),
    is: new IdentityServerApi(target.http(target.manifest.identityServer.url, { tls })),
  };
  const agent = new Agent({ connect: { ca: target.ca } });
  const memory = () => Promise.all(services.map(([name, url]) => memoryOf(name, url, agent)));
  const atStart = await memory();
  console.log(
    `soak: ${MINUTES} min (warm-up ${WARMUP_MINUTES} min), ${CYCLES_PER_SECOND} cycle(s)/s, each a product, a registration, ` +
      `${TOKENS_PER_CYCLE} tokens, ${TOKENS_PER_CYCLE} gateway calls and a deletion`,
  );
  const begin = performance.now();
  const deadline = begin + MINUTES * 60_000;
  let afterWarmup: Memory[] | undefined;
  const warmupAt = begin + WARMUP_MINUTES * 60_000;
  const running = new Set<Promise<void>>();
  for (let cycle = 0; performance.now() < deadline; cycle++) {
    const due = begin + (cycle * 1000) / CYCLES_PER_SECOND;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    if (!afterWarmup && performance.now() >= warmupAt) afterWarmup = await memory();
    const run = runCycle(target, clients, begin).catch((error: unknown) => {
      failures++;
      if (failures <= 5) console.error(`cycle failed: ${(error as Error).message}`);
    });
    running.add(run);
    void run.finally(() => running.delete(run));
  }
  await Promise.all(running);
  const atEnd = await memory();
  await agent.close();
  report(atStart, afterWarmup ?? atStart, atEnd);
} finally {
  up.kill('SIGTERM');
  await new Promise((resolve) => up.once('exit', resolve));
  await rm(stateDir, { recursive: true, force: true });
}

/**
 * Every call of the soak counts against the same client and source, so a pace past a sandbox limit
 * measures 429s, not the stack: refused up front with the pace that fits.
 */
function refusePaceOverLimits(): void {
  const limits = DEFAULT_LIMITS.sandbox;
  const perMinute = (callsPerCycle: number) => callsPerCycle * CYCLES_PER_SECOND * 60;
  const loads: [string, number, { requests: number; window_seconds: number }][] = [
    ['dcr_per_client', perMinute(2 + TOKENS_PER_CYCLE), limits.dcr_per_client],
    ['dcr_per_source', perMinute(2 + TOKENS_PER_CYCLE), limits.dcr_per_source],
    ['token_per_client', perMinute(TOKENS_PER_CYCLE), limits.token_per_client],
    ['token_per_source', perMinute(TOKENS_PER_CYCLE), limits.token_per_source],
  ];
  for (const [name, load, limit] of loads) {
    const allowed = (limit.requests * 60) / limit.window_seconds;
    if (load > allowed * 0.95) {
      throw new Error(
        `the soak would make ${load} calls a minute against ${name} (sandbox limit ${allowed}): ` +
          'lower SOAK_CYCLES_PER_SECOND or SOAK_TOKENS_PER_CYCLE',
      );
    }
  }
}

/** Resolves once `obkit up` has configured the stack and passed its smoke test. */
function started(child: ChildProcess): Promise<void> {
  let output = '';
  return new Promise((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk;
      if (output.includes('stops every service.')) resolve();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code) => reject(new Error(`obkit up exited ${code}:\n${output}`)));
  });
}

interface Clients {
  gateway: DcrApi;
  is: IdentityServerApi;
}

/** One cycle of the steady load; each operation's latency is kept under the minute it ended in. */
async function runCycle(target: Target, clients: Clients, begin: number): Promise<void> {
  const { gateway, is } = clients;
  const { manifest } = target;
  const timed = async <T>(operation: Operation, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    const minute = Math.floor((performance.now() - begin) / 60_000);
    const byOperation = latencies.get(minute) ?? new Map<Operation, number[]>();
    latencies.set(minute, byOperation);
    byOperation.set(operation, [...(byOperation.get(operation) ?? []), performance.now() - started]);
    return result;
  };
  const recipient = await timed('product (Register)', () => sandboxRecipient(target, 'soak'));
  const audience = manifest.identityServer.issuer;
  const body = await buildRegistrationRequest({ ssa: recipient.ssa, audience, key: recipient.key });
  const created = await timed('registration', () => gateway.register(body));
  if (created.status !== 201) throw new Error(`registration answered ${created.status}`);
  const clientId = created.data.client_id;
  const tokenEndpoint = `${manifest.identityServer.url}/oauth2/token`;
  let token = '';
  try {
    for (let index = 0; index < TOKENS_PER_CYCLE; index++) {
      const assertion = await buildClientAssertion({ clientId, audience: tokenEndpoint, key: recipient.key });
      const form = {
        grant_type: 'client_credentials',
        scope: 'cdr:registration',
        client_id: clientId,
        ...clientAssertionFields(assertion),
      };
      token = (await timed('token', () => is.token(form, tokenEndpoint))).access_token;
      const read = await timed('gateway call', () => gateway.get(clientId, token));
      if (read.status !== 200)
        throw new Error(`GET /register/{ClientId} through the gateway answered ${read.status}`);
    }
  } finally {
    if (token) await timed('deletion', () => gateway.delete(clientId, token));
    await recipient.cleanup();
  }
}

/** Each service's management URL (`/metrics`), from the manifest `obkit up` wrote. */
function managementUrls(target: Target): [string, string][] {
  const { manifest } = target;
  const entries: [string, string | undefined][] = [
    ['identity-server', manifest.identityServer.managementUrl],
    ['api-manager', manifest.apiManager.managementUrl],
    ['gateway', manifest.gateway.managementUrl],
    ['register', manifest.mockRegister?.managementUrl],
  ];
  return entries.filter((entry): entry is [string, string] => entry[1] !== undefined);
}

interface Memory {
  service: string;
  rss: number;
  heap: number;
}

/** RSS and V8 heap in use (bytes), from the service's Prometheus metrics (prom-client's defaults). */
async function memoryOf(service: string, managementUrl: string, dispatcher: Agent): Promise<Memory> {
  const response = await request(`${managementUrl}/metrics`, { dispatcher });
  const text = await response.body.text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    service,
    rss: metric('process_resident_memory_bytes'),
    heap: metric('nodejs_heap_size_used_bytes'),
  };
}

function report(atStart: Memory[], afterWarmup: Memory[], atEnd: Memory[]): void {
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const growth = (to: number, from: number) => (to - from) / from;
  let met = true;
  console.log('memory (MiB): start → after warm-up → end, growth after warm-up');
  console.table(
    atStart.map((start, index) => {
      const warm = afterWarmup[index]!;
      const end = atEnd[index]!;
      const rssGrowth = growth(end.rss, warm.rss);
      const heapGrowth = growth(end.heap, warm.heap);
      met &&= rssGrowth <= GROWTH_LIMIT && heapGrowth <= GROWTH_LIMIT;
      return {
        service: start.service,
        RSS: `${mb(start.rss)} → ${mb(warm.rss)} → ${mb(end.rss)}`,
        'RSS growth': `${(rssGrowth * 100).toFixed(1)} %`,
        heap: `${mb(start.heap)} → ${mb(warm.heap)} → ${mb(end.heap)}`,
        'heap growth': `${(heapGrowth * 100).toFixed(1)} %`,
      };
    }),
  );
  console.log('latency per minute (ms), p50 / p99 (count):');
  const operations: Operation[] = ['product (Register)', 'registration', 'token', 'gateway call', 'deletion'];
  console.table(
    [...latencies.keys()]
      .sort((a, b) => a - b)
      .map((minute) => {
        const row: Record<string, string | number> = { minute: minute + 1 };
        for (const operation of operations) {
          const values = [...(latencies.get(minute)!.get(operation) ?? [])].sort((a, b) => a - b);
          row[operation] =
            `${quantile(values, 0.5).toFixed(0)} / ${quantile(values, 0.99).toFixed(0)} (${values.length})`;
        }
        return row;
      }),
  );
  console.log(`failed cycles: ${failures}`);
  console.log(
    `memory growth after warm-up ≤ ${GROWTH_LIMIT * 100} % on every service: ${met ? 'MET' : 'NOT MET'}`,
  );
  if (failures) process.exitCode = 1;
}
