#!/usr/bin/env node
/**
 * Gateway throughput: an OAuth-protected call through the gateway (keep-alive mutual TLS, JWT validated,
 * certificate-bound, subscription checked, one mediation step, proxied over internal mutual TLS) against
 * the same call straight to the backend, in one run, on loopback.
 *
 * Processes: this one sets up the PKI, the key manager's JWKS and the snapshot, and runs the backend and
 * the load generator in worker threads; the gateway runs in a child process of its own (logs to
 * /dev/null, access log on), so its CPU is not shared with the load generator.
 *
 *   node bench/gateway.ts      env: BENCH_SECONDS (5), BENCH_CONNECTIONS (32)
 *
 * Diagnostics: BENCH_PROFILE=<dir> (CPU profile of the gateway), BENCH_GATEWAY_FLAGS (Node flags for the
 * gateway), BENCH_GATEWAY=bare [BENCH_BARE_CERT=1] (a bare relay in place of the gateway: the floor).
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadConfig } from '../lib/config/index.ts';
import { type GatewaySnapshot, parseSynapseSequence } from '../lib/gateway-feed/snapshot.ts';
import { ensureSandboxPki, issueSandboxClientCertificate } from '../lib/pki/index.ts';
import { apiEntry, keyManagerEntry, snapshotOf } from '../test/gateway/support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARMUP_SECONDS = 1.5;
const TARGET_RATIO = 0.5;
const TARGET_RPS = 4000;

interface LoadJob {
  url: string;
  headers: Record<string, string>;
  ca: string;
  cert: string;
  key: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
}

const role = isMainThread ? (process.argv[2] ?? 'main') : (workerData as { role: string }).role;
if (role === 'main') await main();
else if (role === 'gateway') await runGateway(process.argv[3]!);
else if (role === 'backend') await runBackend(workerData as { stateDir: string });
else if (role === 'load') await runLoad((workerData as { job: LoadJob }).job);

async function main(): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'obkit-bench-gw-'));
  const cleanup: (() => Promise<unknown> | unknown)[] = [
    () => rm(stateDir, { recursive: true, force: true }),
  ];
  try {
    const pki = await ensureSandboxPki(join(stateDir, 'pki'));
    const recipient = await issueSandboxClientCertificate(pki.dir, 'bench-adr');
    const ca = await readFile(pki.caBundle, 'utf8');

    const keyManager = await startKeyManager(pki.serverCertificate, pki.serverKey);
    cleanup.unshift(() => keyManager.close());

    const backendWorker = new Worker(new URL(import.meta.url), { workerData: { role: 'backend', stateDir } });
    cleanup.unshift(() => backendWorker.terminate());
    const backendUrl = await new Promise<string>((resolve, reject) => {
      backendWorker.once('message', resolve);
      backendWorker.once('error', reject);
    });

    const clientId = 'bench-client';
    const token = await keyManager.token(clientId, recipient.certificatePem);
    const snapshot = benchSnapshot(keyManager.issuer, keyManager.jwksUri, backendUrl, clientId);
    await mkdir(join(stateDir, 'gateway'), { recursive: true });
    await writeFile(join(stateDir, 'gateway', 'snapshot.json'), JSON.stringify(snapshot));

    const gatewayProcess = fork(new URL(import.meta.url), ['gateway', stateDir], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // BENCH_PROFILE=<dir> writes a CPU profile of the gateway process there; BENCH_GATEWAY_FLAGS adds
      // Node flags to it (e.g. `--perf-basic-prof` for `perf`, GC settings).
      execArgv: [
        ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
        ...(process.env.BENCH_GATEWAY_FLAGS?.split(' ').filter(Boolean) ?? []),
      ],
    });
    cleanup.unshift(() => gatewayProcess.kill('SIGTERM'));
    const gatewayUrl = await new Promise<string>((resolve, reject) => {
      gatewayProcess.once('message', (message) => resolve(String(message)));
      gatewayProcess.once('exit', (code) => reject(new Error(`the gateway exited with code ${code}`)));
    });

    const job = (url: string): LoadJob => ({
      url,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      ca,
      cert: recipient.certificatePem,
      key: recipient.keyPem,
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
    });
    const gatewayCpu = () =>
      new Promise<CpuSample>((resolve) => {
        gatewayProcess.once('message', (message) => resolve(JSON.parse(String(message)) as CpuSample));
        gatewayProcess.send('cpu');
      });
    const path = '/cds-au/v1/banking/products';
    const backendBusy = () =>
      new Promise<number>((resolve) => {
        backendWorker.once('message', resolve);
        backendWorker.postMessage('busy');
      });
    const backendBefore = await backendBusy();
    const hostBeforeDirect = cpuSample();
    const machineBeforeDirect = machineBusy();
    const direct = await load(job(`${backendUrl}${path}`));
    const hostDirect = cpuSample(hostBeforeDirect);
    const foreignDirect = foreignShare(machineBeforeDirect, machineBusy(), [hostDirect]);
    const backendAfterDirect = await backendBusy();
    const cpuBefore = await gatewayCpu();
    const hostBeforeThrough = cpuSample();
    const machineBeforeThrough = machineBusy();
    const through = await load(job(`${gatewayUrl}${path}`));
    const machineAfterThrough = machineBusy();
    const hostThrough = cpuSample(hostBeforeThrough);
    // Includes the warm-up requests, which are not counted: an upper bound per request.
    const gateway = cpuSample(cpuBefore, await gatewayCpu());
    const backendAfterThrough = await backendBusy();
    const foreignThrough = foreignShare(machineBeforeThrough, machineAfterThrough, [hostThrough, gateway]);

    const ratio = through.requests / through.seconds / (direct.requests / direct.seconds);
    console.log(
      `gateway bench: ${CONNECTIONS} keep-alive mutual-TLS connections, ${SECONDS} s each, loopback`,
    );
    if (process.env.BENCH_GATEWAY === 'bare') {
      console.log('REFERENCE RUN: a bare relay stands in for the gateway (no gateway logic)');
    }
    console.log(line('direct to backend', direct));
    console.log(line('through gateway', through));
    const warmupShare = (through.seconds + WARMUP_SECONDS) / through.seconds;
    const directCount = direct.requests * ((direct.seconds + WARMUP_SECONDS) / direct.seconds);
    const throughCount = through.requests * warmupShare;
    const backendPerRequest = (from: number, to: number, requests: number) =>
      (((to - from) * 1000) / requests).toFixed(0);
    console.log(
      `backend busy ≈ ${backendPerRequest(backendBefore, backendAfterDirect, directCount)} µs per request (direct run), ` +
        `${backendPerRequest(backendAfterDirect, backendAfterThrough, throughCount)} µs (through run)`,
    );
    console.log(`gateway process CPU ≤ ${perRequest(gateway, throughCount)}`);
    // The load generator and the backend share this process: their CPU per request, for the 2-core budget.
    console.log(`load+backend process CPU: direct ${perRequest(hostDirect, directCount)}`);
    console.log(`load+backend process CPU: through ${perRequest(hostThrough, throughCount)}`);
    // Other work on the machine (tests, builds) skews rates: say how much there was.
    if (foreignDirect !== undefined && foreignThrough !== undefined) {
      const noisy =
        Math.max(foreignDirect, foreignThrough) > 10 ? ' — rates NOT reliable, rerun on a quiet machine' : '';
      console.log(
        `other processes: ${foreignDirect.toFixed(0)} % (direct run), ${foreignThrough.toFixed(0)} % (through run) of the machine${noisy}`,
      );
    }
    // Both runs are CPU-bound on a small machine, so the ratio of the rates tends to the ratio of the CPU
    // spent per request by everything on the machine; this estimate is steadier than the rates under noise.
    const directCpu = (hostDirect.user + hostDirect.system) / directCount;
    const throughCpu = (hostThrough.user + hostThrough.system + gateway.user + gateway.system) / throughCount;
    console.log(
      `CPU per request, all bench processes: direct ${directCpu.toFixed(0)} µs, through ${throughCpu.toFixed(0)} µs ` +
        `→ CPU-bound ratio ≈ ${((directCpu / throughCpu) * 100).toFixed(1)} %`,
    );
    const rps = through.requests / through.seconds;
    console.log(
      `gateway/direct = ${(ratio * 100).toFixed(1)} % (target ≥ ${TARGET_RATIO * 100} %), ` +
        `${rps.toFixed(0)} req/s (target ≥ ${TARGET_RPS}): ${ratio >= TARGET_RATIO && rps >= TARGET_RPS ? 'MET' : 'NOT MET'}`,
    );
    if (through.errors || through.statuses['200'] !== through.requests) {
      console.error('gateway answered non-200 responses:', through.statuses);
      process.exitCode = 1;
    }
  } finally {
    for (const step of cleanup) await step();
  }
}

/** CPU time (µs) and context switches of a process, absolute or since `from`. */
interface CpuSample {
  user: number;
  system: number;
  voluntary: number;
  involuntary: number;
}

function cpuSample(from?: CpuSample, to?: CpuSample): CpuSample {
  const { userCPUTime, systemCPUTime, voluntaryContextSwitches, involuntaryContextSwitches } =
    process.resourceUsage();
  const now = to ?? {
    user: userCPUTime,
    system: systemCPUTime,
    voluntary: voluntaryContextSwitches,
    involuntary: involuntaryContextSwitches,
  };
  if (!from) return now;
  return {
    user: now.user - from.user,
    system: now.system - from.system,
    voluntary: now.voluntary - from.voluntary,
    involuntary: now.involuntary - from.involuntary,
  };
}

/** Busy CPU time of the whole machine (µs, all cores) and wall time, from /proc/stat; undefined elsewhere. */
function machineBusy(): { busy: number; cores: number; at: number } | undefined {
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    const [, ...fields] = lines[0]!.trim().split(/\s+/);
    const ticks = fields.map(Number);
    const busy = ticks.reduce((sum, value) => sum + value, 0) - ticks[3]! - ticks[4]!;
    const cores = lines.filter((entry) => /^cpu\d/.test(entry)).length;
    // USER_HZ is 100 on Linux.
    return { busy: busy * 10_000, cores, at: performance.now() };
  } catch {
    return undefined;
  }
}

/** Share of the machine (%) used by processes other than the given CPU samples between two readings. */
function foreignShare(
  before: ReturnType<typeof machineBusy>,
  after: ReturnType<typeof machineBusy>,
  ours: CpuSample[],
): number | undefined {
  if (!before || !after) return undefined;
  const own = ours.reduce((sum, sample) => sum + sample.user + sample.system, 0);
  const capacity = (after.at - before.at) * 1000 * after.cores;
  return Math.max(0, ((after.busy - before.busy - own) / capacity) * 100);
}

function perRequest(cpu: CpuSample, requests: number): string {
  const per = (value: number) => (value / requests).toFixed(1);
  return (
    `${((cpu.user + cpu.system) / requests).toFixed(0)} µs per request ` +
    `(user ${per(cpu.user)}, system ${per(cpu.system)}; context switches per request: ` +
    `voluntary ${(cpu.voluntary / requests).toFixed(2)}, involuntary ${(cpu.involuntary / requests).toFixed(2)})`
  );
}

function line(name: string, result: LoadResult): string {
  const rps = result.requests / result.seconds;
  return `${name.padEnd(18)} ${rps.toFixed(0).padStart(7)} req/s   p50 ${result.p50.toFixed(2)} ms   p99 ${result.p99.toFixed(2)} ms   errors ${result.errors}`;
}

function load(job: LoadJob): Promise<LoadResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'load', job } });
  return new Promise((resolve, reject) => {
    worker.once('message', (result: LoadResult) => {
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', reject);
  });
}

/** Load generator (worker): `connections` loops, each one request at a time on its own connection. */
async function runLoad(job: LoadJob): Promise<void> {
  const { Client } = await import('undici');
  const target = new URL(job.url);
  const clients = Array.from(
    { length: job.connections },
    () =>
      new Client(target.origin, {
        connect: { ca: job.ca, cert: job.cert, key: job.key },
        pipelining: 1,
        // HTTP/1.1 on both runs (undici would negotiate h2 with a server offering it): the same kind of
        // connection to the backend and to the gateway.
        allowH2: false,
      }),
  );
  const latencies = new Float64Array(4_000_000);
  let count = 0;
  let errors = 0;
  const statuses: Record<string, number> = {};
  let measuring = false;
  let running = true;
  const path = target.pathname + target.search;
  const loop = async (client: InstanceType<typeof Client>) => {
    while (running) {
      const started = performance.now();
      try {
        const response = await client.request({ path, method: 'GET', headers: job.headers });
        await response.body.dump();
        if (measuring) {
          statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
          if (count < latencies.length) latencies[count] = performance.now() - started;
          count++;
        }
      } catch {
        if (measuring) errors++;
      }
    }
  };
  const loops = clients.map(loop);
  await new Promise((resolve) => setTimeout(resolve, job.warmupSeconds * 1000));
  measuring = true;
  const startedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, job.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - startedAt) / 1000;
  running = false;
  await Promise.all(loops);
  await Promise.all(clients.map((client) => client.close()));
  const sorted = latencies.subarray(0, Math.min(count, latencies.length)).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  const result: LoadResult = { requests: count, errors, seconds, p50: at(0.5), p99: at(0.99), statuses };
  parentPort!.postMessage(result);
}

/** Backend (worker): answers every request with a small JSON document, like a resource server. */
async function runBackend({ stateDir }: { stateDir: string }): Promise<void> {
  const pki = join(stateDir, 'pki');
  const body = JSON.stringify({ data: { products: [{ productId: 'p1', name: 'Everyday account' }] } });
  const server = https.createServer(
    {
      cert: await readFile(join(pki, 'server.pem')),
      key: await readFile(join(pki, 'server.key')),
      ca: [await readFile(join(pki, 'internal-ca.pem')), await readFile(join(pki, 'ca.pem'))],
      requestCert: true,
      rejectUnauthorized: true,
      keepAliveTimeout: 60_000,
    },
    (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  parentPort!.postMessage(`https://localhost:${(server.address() as AddressInfo).port}`);
  // Asked for its busy time, the backend answers the active milliseconds of its event loop.
  parentPort!.on('message', () => parentPort!.postMessage(performance.eventLoopUtilization().active));
}

/** Gateway (child process): loads the snapshot from its state directory, as after a restart. */
async function runGateway(stateDir: string): Promise<void> {
  if (process.env.BENCH_GATEWAY === 'bare') return runBarePassThrough(stateDir);
  const { createGateway } = await import('../services/gateway/server.ts');
  const config = loadConfig({
    env: {},
    overrides: {
      obkit: {
        state_dir: stateDir,
        log_level: 'info',
        admin: { username: 'admin', password: 'bench-admin-password' },
        gateway: { port: 0 },
      },
    },
  });
  const gateway = await createGateway(config, { feed: 'manual' });
  if (!gateway.snapshotVersion) throw new Error('the gateway did not load the bench snapshot');
  process.send!(gateway.url);
  process.on('message', () => process.send!(JSON.stringify(cpuSample())));
  process.on('SIGTERM', () => {
    void gateway.close().then(() => process.exit(0));
  });
}

/**
 * BENCH_GATEWAY=bare: the floor under the gateway on this machine — Node's https server with the gateway's
 * TLS files and an undici Pool as the gateway configures it, relaying every request with no routing,
 * token, subscription, mediation, log or metrics work. BENCH_BARE_CERT=1 adds the forwarded-certificate
 * header the real gateway must send (its cost shows on both the gateway and the backend).
 */
async function runBarePassThrough(stateDir: string): Promise<void> {
  const { Pool } = await import('undici');
  const { createSecureContext, rootCertificates } = await import('node:tls');
  const { encodeCertificateHeader } = await import('../lib/http/forwarded-certificate.ts');
  const ob = loadConfig({
    env: {},
    overrides: {
      obkit: { state_dir: stateDir, admin: { username: 'admin', password: 'bench-admin-password' } },
    },
  }).obkit;
  const snapshot = JSON.parse(
    await readFile(join(stateDir, 'gateway', 'snapshot.json'), 'utf8'),
  ) as GatewaySnapshot;
  const backend = new URL(snapshot.apis[0]!.endpoints.production!);
  const pool = new Pool(backend.origin, {
    connections: 128,
    connect: {
      secureContext: createSecureContext({
        cert: await readFile(ob.tls.internal_client_certificate, 'utf8'),
        key: await readFile(ob.tls.internal_client_key, 'utf8'),
        ca: [
          ...rootCertificates,
          ...(await Promise.all(
            [ob.tls.outbound_ca, ob.tls.internal_ca].filter(Boolean).map((file) => readFile(file, 'utf8')),
          )),
        ],
      }),
    },
  });
  const withCertificate = process.env.BENCH_BARE_CERT === '1';
  const certificateHeaders = new WeakMap<object, string>();
  const server = https.createServer(
    {
      cert: await readFile(ob.tls.certificate),
      key: await readFile(ob.tls.private_key),
      ca: await readFile(ob.tls.truststore),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const headers: Record<string, string | string[] | undefined> = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      if (withCertificate) {
        const socket = req.socket as import('node:tls').TLSSocket;
        let value = certificateHeaders.get(socket);
        if (!value) {
          value = encodeCertificateHeader(socket.getPeerX509Certificate()!.toString());
          certificateHeaders.set(socket, value);
        }
        headers['x-wso2-mutual-auth-cert'] = value;
      }
      // undici's handler interface, as the gateway's upstream.ts: no stream or promise per request.
      const chunks: Buffer[] = [];
      let status = 502;
      let contentType = 'application/json';
      pool.dispatch(
        { origin: backend.origin, path: req.url!, method: 'GET', headers: headers as Record<string, string> },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode, received) {
            status = statusCode;
            contentType = String(received['content-type']);
          },
          onResponseData(_controller, chunk) {
            chunks.push(chunk);
          },
          onResponseEnd() {
            const body = Buffer.concat(chunks);
            res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
            res.end(body);
          },
          onResponseError() {
            res.writeHead(502);
            res.end();
          },
        },
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.send!(`https://localhost:${(server.address() as AddressInfo).port}`);
  process.on('message', () => process.send!(JSON.stringify(cpuSample())));
  process.on('SIGTERM', () => process.exit(0));
}

async function startKeyManager(certificateFile: string, keyFile: string) {
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const { X509Certificate, createHash } = await import('node:crypto');
  const { privateKey, publicKey } = await generateKeyPair('PS256', { extractable: true });
  const kid = randomUUID();
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' }] });
  const server = https.createServer(
    { cert: await readFile(certificateFile), key: await readFile(keyFile) },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(jwks);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://localhost:${(server.address() as AddressInfo).port}`;
  const issuer = `${url}/oauth2/token`;
  return {
    issuer,
    jwksUri: `${url}/oauth2/jwks`,
    token(clientId: string, certificatePem: string) {
      const thumbprint = createHash('sha256')
        .update(new X509Certificate(certificatePem).raw)
        .digest('base64url');
      return new SignJWT({
        client_id: clientId,
        azp: clientId,
        scope: 'bank:accounts.basic:read',
        cnf: { 'x5t#S256': thumbprint },
      })
        .setProtectedHeader({ alg: 'PS256', kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setSubject('bench-user')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function benchSnapshot(
  issuer: string,
  jwksUri: string,
  backendUrl: string,
  clientId: string,
): GatewaySnapshot {
  const api = apiEntry(
    'ProductsAPI',
    '/cds-au/v1/banking',
    backendUrl,
    [
      {
        target: '/products',
        verb: 'GET',
        scopes: ['bank:accounts.basic:read'],
        request: parseSynapseSequence(
          `<header name="x-wso2-client-id" expression="get-property('api.ut.consumerKey')" scope="transport"/>`,
        ),
      },
    ],
    { version: 'v1' },
  );
  // A subscribed application rather than out-of-band provisioning: the bench pays the subscription check.
  return snapshotOf({
    apis: [api],
    keyManagers: [keyManagerEntry({ issuer, jwksUri }, { enableMapOAuthConsumerApps: false })],
    applications: [
      {
        applicationId: 'bench-app',
        name: 'Bench app',
        owner: 'admin',
        keys: [{ keyManager: 'OBKM', consumerKey: clientId, keyType: 'PRODUCTION' }],
        subscriptions: [
          {
            subscriptionId: 'bench-sub',
            apiId: api.apiId,
            throttlingPolicy: 'Unlimited',
            status: 'UNBLOCKED',
          },
        ],
      },
    ],
    subscriptionPolicies: [{ name: 'Unlimited', requestCount: null, unitTime: 1, timeUnit: 'min' }],
    regulatoryApis: [],
  });
}
