#!/usr/bin/env node
// Identity server throughput on loopback, each figure next to a baseline measured in the same run:
//   (a) bare mutual-TLS handshakes: a new connection per request to a trivial HTTPS server with the same
//       certificate, key and client-certificate verification as the identity server;
//   (b) CDR registrations per second, each on a new mutual-TLS connection (SSAs and request JWTs built
//       before the clock starts; one software product per registration);
//   (c) certificate-bound client_credentials tokens per second on keep-alive mutual-TLS connections
//       (pre-signed private_key_jwt assertions, distinct jti).
// The servers run in a child process so the load generator does not share their event loop.
import { fork } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { buildClientAssertion, buildRegistrationRequest, createRecipientKeys } from '../lib/cdr/recipient.ts';
import type { Database, Queryable } from '../lib/storage/index.ts';
import { REGISTRATION_PATH } from '../test/identity-server/dcr/harness.ts';
import { startIdentityServerForDcr } from '../test/identity-server/dcr/identity-server.ts';
import { seedSoftwareProduct, startMockRegister } from '../test/support/register.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 12);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const REGISTRATIONS = Number(process.env.BENCH_REGISTRATIONS ?? 1500);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 6000);
/** A directory: the server child writes one V8 CPU profile per measured phase there (`<phase>.cpuprofile`). */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

/** Parent → child: a phase begins or ends; the child answers each with its `Counters` so far. */
type PhaseMessage = { phase: string; edge: 'start' | 'end' } | 'stop';
/** CPU time of the server child (user + system, µs) and the database statements it ran. */
type Counters = { cpuUs: number; queries: number; resumed: number };

interface Prepared {
  identityServer: string;
  baseline: string;
  pkiDir: string;
  /** One registration request per software product, signed ahead. */
  requests: string[];
  /** client_credentials forms with pre-signed assertions (distinct jti) for one registered client. */
  forms: string[];
}

if (process.argv[2] === '--serve') await serve();
else await main();

/**
 * Child: the sandbox Register, the identity server and the baseline server. It also prepares the load
 * (products, SSAs, request JWTs, client assertions) before the parent starts any clock.
 */
async function serve(): Promise<void> {
  const register = await startMockRegister();
  const server = await startIdentityServerForDcr({
    pkiDir: register.pki.dir,
    registerUrl: register.url,
    overrides: {},
  });
  const queries = countQueries(server.db);
  let resumed = 0;
  const countResumed = (socket: TLSSocket) => {
    if (socket.isSessionReused()) resumed++;
  };
  server.server.service.server.on('secureConnection', countResumed);
  const pki = (name: string) => join(register.pki.dir, name);
  const baseline = https.createServer(
    {
      cert: await readFile(pki('server.pem')),
      key: await readFile(pki('server.key')),
      ca: [await readFile(pki('truststore.pem'))],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (request, response) => {
      const authorized = (request.socket as TLSSocket).authorized;
      response.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' }).end('{"ok":true}');
    },
  );
  baseline.on('secureConnection', countResumed);
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));

  // Distinct software products (one registration each), all signing with one recipient key.
  const recipient = await createRecipientKeys({ alg: 'ES256' });
  const requests: string[] = [];
  for (let start = 0; start <= REGISTRATIONS; start += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, REGISTRATIONS + 1 - start) }, async () => {
        const product = await seedSoftwareProduct(register, { recipient });
        return product.getSsa();
      }),
    );
    for (const ssa of batch)
      requests.push(await buildRegistrationRequest({ ssa, audience: server.issuer, key: recipient }));
  }
  const tls = await clientTls(register.pki.dir);
  const registered = JSON.parse(
    await call(server.url, REGISTRATION_PATH, tls, {
      method: 'POST',
      body: requests.pop()!,
      contentType: 'application/jwt',
    }),
  ) as { client_id: string };
  const forms: string[] = [];
  for (let index = 0; index < TOKENS; index++) {
    const assertion = await buildClientAssertion({
      clientId: registered.client_id,
      audience: server.issuer,
      key: recipient,
    });
    forms.push(
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'cdr:registration',
        client_id: registered.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }).toString(),
    );
  }
  const prepared: Prepared = {
    identityServer: server.url,
    baseline: `https://localhost:${(baseline.address() as AddressInfo).port}`,
    pkiDir: register.pki.dir,
    requests,
    forms,
  };
  process.send?.(prepared);
  const profiler = PROFILE_DIR ? new Session() : undefined;
  profiler?.connect();
  await profiler?.post('Profiler.enable');
  process.on('message', async (message: PhaseMessage) => {
    if (message !== 'stop') {
      if (profiler && message.edge === 'start') await profiler.post('Profiler.start');
      if (profiler && message.edge === 'end') {
        const { profile } = await profiler.post('Profiler.stop');
        await writeFile(join(PROFILE_DIR!, `${message.phase}.cpuprofile`), JSON.stringify(profile));
      }
      const cpu = process.cpuUsage();
      process.send?.({ cpuUs: cpu.user + cpu.system, queries: queries.count, resumed });
      return;
    }
    baseline.close();
    await server.close();
    await register.close();
    process.exit(0);
  });
}

async function main(): Promise<void> {
  console.log(`preparing ${REGISTRATIONS} software products, request JWTs and ${TOKENS} client assertions…`);
  const child = fork(process.argv[1]!, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const prepared = await new Promise<Prepared>((resolve) =>
    child.once('message', (m) => resolve(m as Prepared)),
  );
  const tls = await clientTls(prepared.pkiDir);
  /** Runs one closed loop, with the CPU time both processes spent on it. */
  const phase = async (name: string, run: () => Promise<Loop>): Promise<Phase> => {
    const serverBefore = await childCounters({ phase: name, edge: 'start' });
    const generatorBefore = process.cpuUsage();
    const loop = await run();
    const generator = process.cpuUsage(generatorBefore);
    const serverAfter = await childCounters({ phase: name, edge: 'end' });
    return {
      rate: loop.done / loop.seconds,
      serverUs: (serverAfter.cpuUs - serverBefore.cpuUs) / loop.done,
      generatorUs: (generator.user + generator.system) / loop.done,
      queries: (serverAfter.queries - serverBefore.queries) / loop.done,
      resumed: serverAfter.resumed - serverBefore.resumed,
    };
  };
  const childCounters = (message: PhaseMessage) =>
    new Promise<Counters>((resolve) => {
      child.once('message', (counters) => resolve(counters as Counters));
      child.send(message);
    });
  try {
    const handshakes = await phase('handshakes', () =>
      closedLoop(SECONDS, Infinity, () => status(prepared.baseline, '/', tls, {})),
    );
    let next = 0;
    const registrations = await phase('registrations', () =>
      closedLoop(SECONDS * 3, prepared.requests.length, async () => {
        const code = await status(prepared.identityServer, REGISTRATION_PATH, tls, {
          method: 'POST',
          body: prepared.requests[next++]!,
          contentType: 'application/jwt',
        });
        if (code !== 201) throw new Error(`registration answered ${code}`);
      }),
    );
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, ...tls });
    let form = 0;
    const tokens = await phase('tokens', () =>
      closedLoop(SECONDS, prepared.forms.length, async () => {
        const code = await status(prepared.identityServer, '/oauth2/token', tls, {
          agent: keepAlive,
          method: 'POST',
          body: prepared.forms[form++]!,
          contentType: 'application/x-www-form-urlencoded',
        });
        if (code !== 200) throw new Error(`token endpoint answered ${code}`);
      }),
    );
    keepAlive.destroy();

    const row = (measure: string, result: Phase, target?: string) => ({
      measure,
      'per second': Math.round(result.rate),
      ratio: Number((result.rate / handshakes.rate).toFixed(2)),
      'server CPU µs/op': Math.round(result.serverUs),
      'generator CPU µs/op': Math.round(result.generatorUs),
      'DB statements/op': Number(result.queries.toFixed(1)),
      'resumed TLS sessions': result.resumed,
      ...(target ? { target } : {}),
    });
    console.table([
      row('(a) bare mTLS handshakes, new connection each', handshakes),
      row('(b) registrations, new mTLS connection each', registrations, '>= 300/s'),
      row('(c) cert-bound client_credentials tokens, keep-alive', tokens, '>= 1000/s'),
    ]);
    console.log(
      `concurrency ${CONCURRENCY}; loopback; servers in one child process, load generator in this one`,
    );
  } finally {
    child.send('stop');
  }
}

interface Loop {
  done: number;
  seconds: number;
}

interface Phase {
  rate: number;
  /** CPU time (user + system) per completed operation, in the server child and in this process. */
  serverUs: number;
  generatorUs: number;
  queries: number;
  /** TLS sessions the servers resumed during the phase (must stay 0: every new connection is a full handshake). */
  resumed: number;
}

/** Counts the statements run through `db`, in and out of transactions (BEGIN/COMMIT not included). */
function countQueries(db: Database): { count: number } {
  const counter = { count: 0 };
  const counted = (target: Queryable): Queryable['query'] => {
    const query = target.query.bind(target);
    return (sql, params) => {
      counter.count++;
      return query(sql, params);
    };
  };
  db.query = counted(db);
  const transaction = db.transaction.bind(db);
  db.transaction = (fn) => transaction((tx) => fn({ ...tx, query: counted(tx) }));
  return counter;
}

/** Runs `task` with CONCURRENCY workers for `seconds` or `limit` tasks; returns how many completed and in what time. */
async function closedLoop(seconds: number, limit: number, task: () => Promise<unknown>): Promise<Loop> {
  let done = 0;
  let started = 0;
  const deadline = performance.now() + seconds * 1000;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline && started < limit) {
        started++;
        await task();
        done++;
      }
    }),
  );
  return { done, seconds: (performance.now() - begin) / 1000 };
}

interface SendOptions {
  /** Keep-alive agent; without one every request opens (and closes) its own mutual-TLS connection. */
  agent?: https.Agent;
  method?: string;
  body?: string;
  contentType?: string;
}

/**
 * The client side of every connection: the sandbox CA, the recipient's certificate and key, loaded into
 * one TLS context up front (not re-parsed from PEM for each new connection). No session is ever offered
 * for resumption (`agent: false` keeps none), so each new connection is a full mutual-TLS handshake;
 * the server child counts resumed sessions to prove it.
 */
type Tls = { secureContext: SecureContext };

async function clientTls(pkiDir: string): Promise<Tls> {
  return {
    secureContext: createSecureContext({
      ca: await readFile(join(pkiDir, 'ca.pem'), 'utf8'),
      cert: await readFile(join(pkiDir, 'client.pem'), 'utf8'),
      key: await readFile(join(pkiDir, 'client.key'), 'utf8'),
    }),
  };
}

/** One HTTPS request; resolves with the status and the body. */
function call(base: string, path: string, tls: Tls, options: SendOptions = {}): Promise<string> {
  return exchange(base, path, tls, options).then((reply) => reply.body);
}

function status(base: string, path: string, tls: Tls, options: SendOptions): Promise<number> {
  return exchange(base, path, tls, options).then((reply) => reply.status);
}

function exchange(
  base: string,
  path: string,
  tls: Tls,
  options: SendOptions,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${base}${path}`,
      {
        method: options.method ?? 'GET',
        ...(options.agent ? { agent: options.agent } : { agent: false, ...tls }),
        headers: {
          ...(options.body
            ? { 'content-type': options.contentType!, 'content-length': Buffer.byteLength(options.body) }
            : {}),
          ...(options.agent ? {} : { connection: 'close' }),
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
