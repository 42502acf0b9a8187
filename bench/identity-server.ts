#!/usr/bin/env node
// Identity server throughput on loopback, each figure next to a baseline measured in the same run:
//   (a) bare mutual-TLS handshakes: a new connection per request to a trivial HTTPS server with the same
//       certificate, key and client-certificate verification as the identity server;
//   (b) CDR registrations per second, each on a new mutual-TLS connection (SSAs and request JWTs built
//       before the clock starts; one software product per registration);
//   (c) certificate-bound client_credentials tokens per second on keep-alive mutual-TLS connections
//       (pre-signed private_key_jwt assertions, distinct jti);
//   (d) the baseline for (c): the same forms POSTed on keep-alive mutual-TLS connections to the trivial
//       server, which reads each body and answers a JSON body the size of a token response.
// Then the token's floor, measured in the server process: one PS256 signature with the identity server's
// signing code, one ES256 verification of a client assertion (jose, as oidc-provider does it) and one
// replay-cache statement — issue 13's targets: (c) ≤ 1.0 ms of server CPU, (b) ÷ (a) ≤ 2×.
// The four phases and the floors run BENCH_ROUNDS (3) times, interleaved; each figure is its median over
// the rounds, the server's CPU with its spread, and each ratio is taken within a round (a 2-core VM's
// figures move by ±20 % from one run to the next: one round cannot tell a 10 % change from noise). In
// the first round each phase first runs BENCH_WARMUP_SECONDS (1) of its operations uncounted. Each figure
// comes with the CPU time per operation of every process (the identity server, its main thread alone, the
// Register, this generator): the machine's two cores are shared, so rates move with whatever else runs,
// CPU per operation much less.
// The identity server keeps its data in PGlite, in its own process, as `obkit up` runs it; with
// BENCH_DATABASE_URL (a PostgreSQL server, as in production) it uses that instead, whose CPU is then
// not in the identity server's figures.
// The identity server (and the baseline server) run in a child process so the load generator does not
// share their event loop; the sandbox Register, which also hosts each product's recipient JWKS, runs in
// a second child, as the Register and recipients' JWKS hosts are other parties' servers in production.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { compactVerify, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { Pool } from 'undici';
import { buildClientAssertion, buildRegistrationRequest, createRecipientKeys } from '../lib/cdr/recipient.ts';
import { RegisterClient } from '../lib/cdr/register-client.ts';
import { SERVER_TLS_PROFILE } from '../lib/http/tls-profile.ts';
import type { Database, Queryable } from '../lib/storage/index.ts';
import { rememberJti } from '../services/identity-server/dcr/replay-cache.ts';
import { LocalSigningKey } from '../services/identity-server/oauth/local-signing-key.ts';
import { REGISTRATION_PATH } from '../test/support/dcr.ts';
import { startIdentityServerForDcr } from '../test/support/dcr-identity-server.ts';
import { seedSoftwareProduct, startMockRegister, type TestRegister } from '../test/support/register.ts';
import { median } from './statistics.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 12);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
/** Operations run before each phase's clock starts, not counted (BENCH_WARMUP_SECONDS, 0 for none). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
/** Rounds of the four phases (BENCH_ROUNDS): the figures reported are each measure's median over them. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Software products prepared, each registered once, shared out between the rounds. */
const REGISTRATIONS = Number(process.env.BENCH_REGISTRATIONS ?? 2000);
/** Client assertions prepared (each used once): enough for every round's token phase on a fast machine. */
const TOKENS = Number(process.env.BENCH_TOKENS ?? 12000);
/**
 * The bench registers and asks for tokens hundreds of times a second from one address and one
 * certificate: far past the abuse limits of either mode, which would measure 429s. It raises them, in
 * the open; the limits still count every request (one counter upsert each), so their cost is measured.
 */
const BENCH_LIMITS = {
  token_per_client: { requests: 10_000_000, window_seconds: 60 },
  token_per_source: { requests: 10_000_000, window_seconds: 60 },
  dcr_per_client: { requests: 10_000_000, window_seconds: 60 },
  dcr_per_source: { requests: 10_000_000, window_seconds: 60 },
};
/** Operations timed for each part of the token's floor. */
const FLOOR_OPERATIONS = Number(process.env.BENCH_FLOOR_OPERATIONS ?? 1000);
/** What the baseline server answers a POST: a JSON body the size of a token response (about 1.4 KB). */
const TOKEN_SIZED_BODY = JSON.stringify({ ok: true, padding: 'x'.repeat(1400) });
/** A directory: the server child writes one V8 CPU profile per measured phase there (`<phase>.cpuprofile`, the last round's). */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;

/** Parent → child: a phase begins or ends (answered with its `Counters` so far), measure the floors, or stop. */
type PhaseMessage = { phase: string; edge: 'start' | 'end' } | 'floors' | 'stop';
/** Server CPU (whole process, µs) per operation of each part of a token no implementation avoids. */
interface Floors {
  ps256Signature: number;
  es256Verification: number;
  replayStatement: number;
}
/** CPU time of a child (user + system, µs): the whole process and its main (event-loop) thread. */
type CpuCounters = { cpuUs: number; mainThreadUs: number };
/** The server child's CPU time, the database statements it ran and the TLS sessions it resumed. */
type Counters = CpuCounters & { queries: number; resumed: number };

function cpuCounters(): CpuCounters {
  const cpu = process.cpuUsage();
  const main = process.threadCpuUsage();
  return { cpuUs: cpu.user + cpu.system, mainThreadUs: main.user + main.system };
}

interface Prepared {
  identityServer: string;
  baseline: string;
  pkiDir: string;
  /** One registration request per software product, signed ahead. */
  requests: string[];
  /** client_credentials forms with pre-signed assertions (distinct jti) for one registered client. */
  forms: string[];
}

/** What the server child keeps to measure the token's floor. */
interface FloorInputs {
  db: Database;
  /** The recipient's public key and client assertions it signed. */
  recipient: JWK;
  assertions: string[];
}

/** What the Register child tells the others: where it is and the admin credential of its API. */
interface RegisterInfo {
  url: string;
  pkiDir: string;
  admin: { username: string; password: string };
}

/** Register child: the sandbox Register (SSAs, Register JWKS, recipient JWKS), until told to stop. */
async function serveRegister(): Promise<void> {
  const register = await startMockRegister();
  const info: RegisterInfo = { url: register.url, pkiDir: register.pki.dir, admin: register.admin };
  process.send?.(info);
  process.on('message', async (message) => {
    if (message !== 'stop') {
      process.send?.(cpuCounters());
      return;
    }
    await register.close();
    process.exit(0);
  });
}

/**
 * Server child: the identity server and the baseline server. It also prepares the load (products and
 * SSAs through the Register's API, request JWTs, client assertions) before the parent starts any clock.
 */
async function serve(): Promise<void> {
  const info = await new Promise<RegisterInfo>((resolve) =>
    process.once('message', (m) => resolve(m as RegisterInfo)),
  );
  const pkiFile = (name: string) => readFile(join(info.pkiDir, name), 'utf8');
  const registerClient = new RegisterClient({
    baseUrl: info.url,
    ca: await pkiFile('ca.pem'),
    clientCertificate: { certificate: await pkiFile('client.pem'), key: await pkiFile('client.key') },
    admin: info.admin,
  });
  // seedSoftwareProduct only talks to the Register through its client.
  const register = { client: registerClient } as TestRegister;
  const server = await startIdentityServerForDcr({
    pkiDir: info.pkiDir,
    registerUrl: info.url,
    overrides: { obkit: { limits: BENCH_LIMITS } },
    databaseUrl: DATABASE_URL,
  });
  const queries = countQueries(server.db);
  let resumed = 0;
  const countResumed = (socket: TLSSocket) => {
    if (socket.isSessionReused()) resumed++;
  };
  server.server.service.server.on('secureConnection', countResumed);
  const pki = (name: string) => join(info.pkiDir, name);
  const baseline = https.createServer(
    {
      cert: await readFile(pki('server.pem')),
      key: await readFile(pki('server.key')),
      ca: [await readFile(pki('truststore.pem'))],
      requestCert: true,
      rejectUnauthorized: false,
      ...SERVER_TLS_PROFILE,
    },
    (request, response) => {
      const authorized = (request.socket as TLSSocket).authorized;
      // A POST's body is read before the answer, as the token endpoint reads its form.
      request.resume();
      request.once('end', () =>
        response
          .writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' })
          .end(request.method === 'POST' ? TOKEN_SIZED_BODY : '{"ok":true}'),
      );
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
  const tls = await clientTls(info.pkiDir);
  const registered = JSON.parse(
    await call(server.url, REGISTRATION_PATH, tls, {
      method: 'POST',
      body: requests.pop()!,
      contentType: 'application/jwt',
    }),
  ) as { client_id: string };
  const forms: string[] = [];
  const assertions: string[] = [];
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
    if (assertions.length < FLOOR_OPERATIONS) assertions.push(assertion);
  }
  const prepared: Prepared = {
    identityServer: server.url,
    baseline: `https://localhost:${(baseline.address() as AddressInfo).port}`,
    pkiDir: info.pkiDir,
    requests,
    forms,
  };
  process.send?.(prepared);
  const profiler = PROFILE_DIR ? new Session() : undefined;
  profiler?.connect();
  await profiler?.post('Profiler.enable');
  process.on('message', async (message: PhaseMessage) => {
    if (message === 'floors') {
      process.send?.(await measureFloors({ db: server.db, recipient: recipient.publicJwk, assertions }));
      return;
    }
    if (message !== 'stop') {
      if (profiler && message.edge === 'start') await profiler.post('Profiler.start');
      if (profiler && message.edge === 'end') {
        const { profile } = await profiler.post('Profiler.stop');
        await writeFile(join(PROFILE_DIR!, `${message.phase}.cpuprofile`), JSON.stringify(profile));
      }
      process.send?.({ ...cpuCounters(), queries: queries.count, resumed });
      return;
    }
    baseline.close();
    await server.close();
    await registerClient.close();
    process.exit(0);
  });
}

async function main(): Promise<void> {
  console.log(`preparing ${REGISTRATIONS} software products, request JWTs and ${TOKENS} client assertions…`);
  const registerChild = fork(process.argv[1]!, ['--register'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const registerInfo = await new Promise<RegisterInfo>((resolve) =>
    registerChild.once('message', (m) => resolve(m as RegisterInfo)),
  );
  const child = fork(process.argv[1]!, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send(registerInfo);
  const prepared = await new Promise<Prepared>((resolve) =>
    child.once('message', (m) => resolve(m as Prepared)),
  );
  const ask = <T>(target: typeof child, message: PhaseMessage | 'cpu') =>
    new Promise<T>((resolve) => {
      target.once('message', (answer) => resolve(answer as T));
      target.send(message);
    });
  try {
    const bench = new RoundRunner(prepared, await clientTls(prepared.pkiDir), {
      server: (message) => ask<Counters>(child, message),
      register: () => ask<CpuCounters>(registerChild, 'cpu'),
    });
    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      process.stdout.write(`round ${round} of ${ROUNDS}…\n`);
      const phases = await bench.round(round === 1, ROUNDS - round + 1);
      rounds.push({ ...phases, floors: await ask<Floors>(child, 'floors') });
    }
    report(rounds);
  } finally {
    child.send('stop');
    registerChild.send('stop');
  }
}

/** Asks the server child (with a phase edge) and the Register child for their counters so far. */
interface PhaseCounters {
  server(message: PhaseMessage): Promise<Counters>;
  register(): Promise<CpuCounters>;
}

/** The four measured phases of one round, and the token's floors measured after them. */
type Round = Record<'handshakes' | 'registrations' | 'tokens' | 'keepAliveRequests', Phase> & {
  floors: Floors;
};

/**
 * Runs the four phases, round after round, on connections and requests prepared before any clock
 * starts. Rounds interleave the phases, so a change in what else the machine does shows up as spread
 * between rounds rather than as a difference between phases.
 */
class RoundRunner {
  readonly #prepared: Prepared;
  readonly #tls: Tls;
  readonly #counters: PhaseCounters;
  readonly #handshakeRequest: Buffer;
  readonly #registrationRequests: Buffer[];
  #nextRegistration = 0;
  #nextForm = 0;

  constructor(prepared: Prepared, tls: Tls, counters: PhaseCounters) {
    this.#prepared = prepared;
    this.#tls = tls;
    this.#counters = counters;
    this.#handshakeRequest = httpRequest(new URL(prepared.baseline), 'GET', '/');
    this.#registrationRequests = prepared.requests.map((body) =>
      httpRequest(new URL(prepared.identityServer), 'POST', REGISTRATION_PATH, {
        type: 'application/jwt',
        body,
      }),
    );
  }

  /** `warm`: run each phase's operations for WARMUP_SECONDS first (the JIT is warm after the first round). */
  async round(warm: boolean, roundsLeft: number): Promise<Omit<Round, 'floors'>> {
    const baseline = new URL(this.#prepared.baseline);
    const identityServer = new URL(this.#prepared.identityServer);
    const handshakes = await this.#phase('handshakes', warm, (seconds) =>
      closedLoop(seconds, Infinity, async () => {
        const code = await statusOfNewConnection(baseline, this.#tls, this.#handshakeRequest);
        if (code !== 200) throw new Error(`baseline answered ${code}`);
      }),
    );
    // Each software product registers once: the measured loop gets this round's share of what is left.
    const registrations = await this.#phase('registrations', warm, (seconds) =>
      closedLoop(
        seconds * 3,
        Math.floor((this.#registrationRequests.length - this.#nextRegistration) / roundsLeft),
        async () => {
          const code = await statusOfNewConnection(
            identityServer,
            this.#tls,
            this.#registrationRequests[this.#nextRegistration++]!,
          );
          if (code !== 201) throw new Error(`registration answered ${code}`);
        },
      ),
    );
    const forms = this.#prepared.forms;
    const tokens = await this.#keepAlivePhase(
      'tokens',
      warm,
      this.#prepared.identityServer,
      '/oauth2/token',
      {
        limit: () => forms.length - this.#nextForm,
        body: () => forms[this.#nextForm++]!,
      },
    );
    // The same forms to the trivial server on the same kind of connections: what TLS, HTTP and the
    // generator cost a keep-alive request before any token work.
    let bareForm = 0;
    const keepAliveRequests = await this.#keepAlivePhase('keep-alive', warm, this.#prepared.baseline, '/', {
      limit: () => Infinity,
      body: () => forms[bareForm++ % forms.length]!,
    });
    return { handshakes, registrations, tokens, keepAliveRequests };
  }

  /**
   * POSTs of token forms on CONCURRENCY keep-alive connections through undici (cheaper per request than
   * node:https, so the generator takes less of the two cores the server needs).
   */
  async #keepAlivePhase(
    name: string,
    warm: boolean,
    origin: string,
    path: string,
    forms: { limit: () => number; body: () => string },
  ): Promise<Phase> {
    const pool = new Pool(origin, {
      connections: CONCURRENCY,
      pipelining: 1,
      connect: { ...this.#tls, servername: 'localhost' },
    });
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    try {
      return await this.#phase(name, warm, (seconds) =>
        closedLoop(seconds, forms.limit(), async () => {
          const response = await pool.request({ path, method: 'POST', headers, body: forms.body() });
          await response.body.dump();
          if (response.statusCode !== 200)
            throw new Error(`${origin}${path} answered ${response.statusCode}`);
        }),
      );
    } finally {
      await pool.close();
    }
  }

  /** One closed loop, with the CPU time every process spent on it, after an uncounted warm-up when `warm`. */
  async #phase(name: string, warm: boolean, run: (seconds: number) => Promise<Loop>): Promise<Phase> {
    if (warm && WARMUP_SECONDS > 0) await run(WARMUP_SECONDS);
    const serverBefore = await this.#counters.server({ phase: name, edge: 'start' });
    const registerBefore = await this.#counters.register();
    const generatorBefore = process.cpuUsage();
    const loop = await run(SECONDS);
    const generator = process.cpuUsage(generatorBefore);
    const registerAfter = await this.#counters.register();
    const serverAfter = await this.#counters.server({ phase: name, edge: 'end' });
    return {
      rate: loop.done / loop.seconds,
      serverUs: (serverAfter.cpuUs - serverBefore.cpuUs) / loop.done,
      serverMainUs: (serverAfter.mainThreadUs - serverBefore.mainThreadUs) / loop.done,
      generatorUs: (generator.user + generator.system) / loop.done,
      registerUs: (registerAfter.cpuUs - registerBefore.cpuUs) / loop.done,
      queries: (serverAfter.queries - serverBefore.queries) / loop.done,
      resumed: serverAfter.resumed - serverBefore.resumed,
    };
  }
}

const MEASURES = {
  handshakes: '(a) bare mTLS handshakes, new connection each',
  registrations: '(b) registrations, new mTLS connection each',
  tokens: '(c) cert-bound client_credentials tokens, keep-alive',
  keepAliveRequests: '(d) bare keep-alive mTLS POSTs of the same forms',
} as const;

/** Each measure's median over the rounds (with the spread of the server's CPU), then issue 13's targets. */
function report(rounds: Round[]): void {
  const phases = Object.keys(MEASURES) as Array<keyof typeof MEASURES>;
  const of = (phase: keyof typeof MEASURES, field: keyof Phase) =>
    median(rounds.map((round) => round[phase][field]));
  const handshakeRate = of('handshakes', 'rate');
  console.table(
    phases.map((phase) => ({
      measure: MEASURES[phase],
      'per second': Math.round(of(phase, 'rate')),
      ratio: Number((of(phase, 'rate') / handshakeRate).toFixed(2)),
    })),
  );
  console.log(
    `CPU µs per operation (user + system), median of ${rounds.length} rounds, and what each operation cost the server:`,
  );
  console.table(
    phases.map((phase) => {
      const server = rounds.map((round) => round[phase].serverUs);
      return {
        measure: MEASURES[phase].slice(0, 3),
        'identity server': Math.round(median(server)),
        'its rounds': `${Math.round(Math.min(...server))}–${Math.round(Math.max(...server))}`,
        'its main thread': Math.round(of(phase, 'serverMainUs')),
        'Register (JWKS host)': Math.round(of(phase, 'registerUs')),
        generator: Math.round(of(phase, 'generatorUs')),
        'DB statements': Number(of(phase, 'queries').toFixed(1)),
        'resumed TLS sessions': rounds.reduce((sum, round) => sum + round[phase].resumed, 0),
      };
    }),
  );
  console.log(
    `concurrency ${CONCURRENCY}; loopback; identity server and the Register in two child processes, load generator in this one; ` +
      `database: ${DATABASE_URL ? 'PostgreSQL server (its CPU not counted)' : 'PGlite in the identity server'}`,
  );
  reportTargets(rounds);
}

/** Issue 13's two identity-server targets, each beside its same-round baseline and the token's floor. */
function reportTargets(rounds: Round[]): void {
  const verdict = (met: boolean) => (met ? 'MET' : 'NOT MET');
  const floorOf = (round: Round) =>
    round.floors.ps256Signature +
    round.floors.es256Verification +
    round.floors.replayStatement +
    round.keepAliveRequests.serverUs;
  const floorPart = (part: keyof Floors) => Math.round(median(rounds.map((round) => round.floors[part])));
  const token = median(rounds.map((round) => round.tokens.serverUs));
  console.log(
    `(c) server CPU per token: ${Math.round(token)} µs (main thread ` +
      `${Math.round(median(rounds.map((round) => round.tokens.serverMainUs)))}) (target ≤ 1000 µs): ${verdict(token <= 1000)}`,
  );
  console.log(
    `    its floor ≈ ${Math.round(median(rounds.map(floorOf)))} µs: PS256 signature ${floorPart('ps256Signature')} + ES256 ` +
      `verification ${floorPart('es256Verification')} + replay-cache statement ${floorPart('replayStatement')} ` +
      `+ bare keep-alive mTLS POST (d) ${Math.round(median(rounds.map((round) => round.keepAliveRequests.serverUs)))}; ` +
      `above it (oidc-provider, koa, hooks, limits, GC): ${Math.round(median(rounds.map((round) => round.tokens.serverUs - floorOf(round))))} µs`,
  );
  const ratios = rounds.map((round) => round.registrations.serverUs / round.handshakes.serverUs);
  const ratio = median(ratios);
  console.log(
    `(b) ÷ (a) server CPU, same round: ${ratio.toFixed(2)}× (rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; ` +
      `median ${Math.round(median(rounds.map((round) => round.registrations.serverUs)))} ÷ ` +
      `${Math.round(median(rounds.map((round) => round.handshakes.serverUs)))} µs) (target ≤ 2×): ${verdict(ratio <= 2)}`,
  );
}

/** Server CPU per operation of each part of the token's floor, `FLOOR_OPERATIONS` of each, CONCURRENCY in flight. */
async function measureFloors(inputs: FloorInputs): Promise<Floors> {
  const { privateKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  // The identity server's own signing code (a token's header and claims are about 900 bytes).
  const signer = new LocalSigningKey({ ...(await exportJWK(privateKey)), kid: 'floor', alg: 'PS256' });
  const signingInput = new TextEncoder().encode('x'.repeat(900));
  const recipientKey = await importJWK(inputs.recipient, 'ES256');
  const expiresAt = Math.floor(Date.now() / 1000) + 300;
  return {
    ps256Signature: await cpuPerOperation(() => signer.sign(signingInput)),
    es256Verification: await cpuPerOperation((index) =>
      compactVerify(inputs.assertions[index % inputs.assertions.length]!, recipientKey),
    ),
    replayStatement: await cpuPerOperation(() =>
      rememberJti(inputs.db, 'dcr-request', randomUUID(), expiresAt, 'replayed'),
    ),
  };
}

/** This process's CPU time (µs) per call of `operation`, FLOOR_OPERATIONS calls with CONCURRENCY in flight. */
async function cpuPerOperation(operation: (index: number) => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < FLOOR_OPERATIONS) await operation(next++);
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / FLOOR_OPERATIONS;
}

interface Loop {
  done: number;
  seconds: number;
}

interface Phase {
  rate: number;
  /** CPU time (user + system) per completed operation, in the server child and in this process. */
  serverUs: number;
  /** The server's main (event-loop) thread alone: its ceiling is 1e6 / serverMainUs operations a second. */
  serverMainUs: number;
  generatorUs: number;
  /** The Register child (serving the recipient JWKS a registration fetches). */
  registerUs: number;
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
  method?: string;
  body?: string;
  contentType?: string;
}

/**
 * The client side of every connection: the sandbox CA, the recipient's certificate and key, loaded into
 * one TLS context up front (not re-parsed from PEM for each new connection). No session is ever offered
 * for resumption (no `session` is ever passed to `tls.connect`), so each new connection is a full mutual-TLS
 * handshake; the server child counts resumed sessions to prove it.
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

/** An HTTP/1.1 request that asks the server to close the connection after answering. */
function httpRequest(
  url: URL,
  method: string,
  path: string,
  content?: { type: string; body: string },
): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, `host: ${url.host}`, 'connection: close'];
  if (content)
    head.push(`content-type: ${content.type}`, `content-length: ${Buffer.byteLength(content.body)}`);
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${content?.body ?? ''}`);
}

/**
 * Sends `request` on a new mutual-TLS connection (full handshake, server certificate verified for
 * `localhost`) and resolves with the status once the server has answered and closed the connection.
 * Plain `tls.connect` with pre-built bytes: `https.request` costs the generator more than the handshake.
 */
function statusOfNewConnection(url: URL, tls: Tls, request: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), servername: 'localhost', ...tls });
    let head = '';
    socket.setEncoding('latin1');
    socket.once('secureConnect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      if (head.length < 16) head += chunk;
    });
    socket.once('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0)));
    socket.once('error', reject);
  });
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
        agent: false,
        ...tls,
        headers: {
          ...(options.body
            ? { 'content-type': options.contentType!, 'content-length': Buffer.byteLength(options.body) }
            : {}),
          connection: 'close',
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

// Last, so every class above is initialised before any role runs.
if (process.argv[2] === '--register') await serveRegister();
else if (process.argv[2] === '--serve') await serve();
else await main();
