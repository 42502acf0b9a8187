import { once } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { BASE_PORT_SPAN, type ComponentName, componentNamed } from '../../lib/config/components.ts';
import type { EnvironmentManifest } from '../../lib/config/environment-manifest.ts';
import {
  type Config,
  ConfigError,
  embeddedDatabaseOf,
  loadConfig,
  MANAGEMENT_PORT_OFFSET,
  managementUrlOf,
} from '../../lib/config/index.ts';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { BUNDLE_ENTRIES, freshBundles } from '../../lib/process/bundles.ts';
import { COMPILE_CACHE_DIR } from '../../lib/process/cache.ts';
import { ownerOnlyFiles, tightenTree } from '../../lib/process/owner-only.ts';
import type { PushedAuthorization } from './recipient-session.ts';
import { Supervisor } from './supervisor.ts';
import { localManifest, manifestPath, type Target, targetFromManifest, writeManifest } from './target.ts';
import { acquireUpLock, releaseUpLock, type UpLock, updateUpLock } from './up-lock.ts';

/**
 * `obkit up`: the whole stack as supervised local processes sharing one embedded database, configured
 * by the same steps as any other target and proven by the smoke registration. Everything lives in the
 * state directory (PKI, database, logs, manifest, lock), so a second `up` on it keeps every registration.
 */

/** Start order: the Register first, banking last (ports and config sections: lib/config/components.ts). */
const SERVICES = [
  'mock-register',
  'identity-server',
  'api-manager',
  'gateway',
  'banking',
] as const satisfies readonly ComponentName[];
type ServiceName = (typeof SERVICES)[number];
const DATABASE = 'embedded-database';
const configKeyOf = (name: ServiceName) => componentNamed(name).configKey;
const READY_TIMEOUT_MS = 90_000;
/**
 * PGlite's WebAssembly runs on V8's baseline compiler only: optimising its hot functions costs ≈3 s of
 * CPU at every start (measured: 5.2 s → 1.9 s CPU to open the cluster), for queries ≈30 % faster than a
 * local stack needs.
 */
const NODE_OPTIONS = { [DATABASE]: ['--liftoff-only'] };

export const upOptions = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  'base-port': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export const UP_HELP = `Usage: obkit up [--config FILE] [--state-dir DIR] [--base-port N] [--json]

Starts the embedded database and mock-register, identity-server, api-manager, gateway and banking
locally (sandbox mode), waits until each answers /health/ready on its management port, runs every
configure step and the smoke test (registration, then consent, data and revocation), then marks
<state-dir>/environment.json ready ("status": "ready") and prints the URLs, certificate paths, a curl
registration to paste and a consent URL for the demo client (\`obkit consent-url\` for a fresh one).
Stays in the foreground until Ctrl-C, SIGTERM or \`obkit down\`, which stop every process.

A process that exits is restarted (back-off from 0.25 s to 8 s) while the others keep serving; after
more than 5 exits within 60 s, or one that refuses its configuration, \`up\` stops everything and
prints the last lines of its log. \`obkit status\` shows the restarts, \`obkit logs\` the logs.
One \`up\` per state directory (<state-dir>/up.lock). Running it again on the same state directory
reuses the PKI, the database and every registration; remove the directory to start afresh.
The processes run from bundles that esbuild builds in node_modules/.cache/obkit/bundles/ whenever a
source changed (OBKIT_BUNDLES=0 runs the TypeScript sources).

  --config FILE          obkit TOML (also OBKIT_CONFIG), passed to every service
  --state-dir DIR        state directory (default: OBKIT_STATE_DIR, obkit.state_dir of the config, .obkit)
  --base-port N          ports N (gateway), N+1 (identity-server), N+2 (api-manager), N+3 (mock-register),
                         N+4 (banking) instead of 8243, 9446, 9443, 7000, 9447; management ports
                         (health, metrics) N+100..N+104 instead of 8343, 9546, 9543, 7100, 9547
  --json                 print the ready environment manifest as one line of JSON on stdout (progress
                         goes to stderr); on failure {"ok": false, "error"}`;

export interface UpValues {
  config?: string;
  'state-dir'?: string;
  'base-port'?: string;
  json?: boolean;
}

interface UpContext {
  config: Config;
  configFile: string | undefined;
  env: NodeJS.ProcessEnv;
  stateDir: string;
  out: (line: string) => void;
}

export async function runUp(
  values: UpValues,
  print: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  const json = Boolean(values.json);
  const out = json ? (line: string) => process.stderr.write(`${line}\n`) : print;
  const fail = (message: string, code: number) => {
    if (json) print(JSON.stringify({ ok: false, error: message }));
    else out(message);
    return code;
  };
  // Before anything is written: the state directory and all it holds are its owner's only.
  ownerOnlyFiles();
  let context: UpContext;
  try {
    context = upContext(values, out);
  } catch (error) {
    return fail(`obkit up: ${(error as Error).message}`, 2);
  }
  let lock: UpLock;
  try {
    lock = await takeLock(context);
  } catch (error) {
    return fail(`obkit up: ${(error as Error).message}`, 1);
  }
  try {
    await assertPortsFree(context.config);
  } catch (error) {
    await releaseUpLock(context.stateDir);
    return fail(`obkit up: ${(error as Error).message}`, 1);
  }
  try {
    return await runStack(
      context,
      lock,
      json ? (manifest) => print(JSON.stringify(manifest)) : undefined,
      fail,
    );
  } finally {
    await releaseUpLock(context.stateDir);
  }
}

/** Configuration as every process will see it: flags become environment overrides. */
function upContext(values: UpValues, out: (line: string) => void): UpContext {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const configFile = values.config ? resolve(values.config) : env.OBKIT_CONFIG || undefined;
  if (values['state-dir']) env.OBKIT__OBKIT__STATE_DIR = resolve(values['state-dir']);
  if (values['base-port'] !== undefined) {
    const base = Number(values['base-port']);
    const highest = 65_535 - MANAGEMENT_PORT_OFFSET - BASE_PORT_SPAN;
    if (!Number.isInteger(base) || base < 1 || base > highest)
      throw new Error(`--base-port must be an integer between 1 and ${highest}`);
    for (const name of SERVICES) {
      const port = base + componentNamed(name).basePortOffset;
      const key = `OBKIT__OBKIT__${configKeyOf(name).toUpperCase()}`;
      env[`${key}__PORT`] = String(port);
      env[`${key}__MANAGEMENT_PORT`] = String(port + MANAGEMENT_PORT_OFFSET);
    }
  }
  const config = loadConfig({ file: configFile, env });
  if (config.obkit.mode !== 'sandbox') {
    throw new ConfigError(
      'obkit.mode',
      '`obkit up` runs the sandbox locally; deploy production with the Pulumi stack',
    );
  }
  for (const name of SERVICES) {
    if (config.obkit[configKeyOf(name)].port === 0)
      throw new ConfigError(`obkit.${configKeyOf(name)}.port`, 'obkit up needs fixed ports');
  }
  const stateDir = config.obkit.state_dir;
  env.OBKIT__OBKIT__STATE_DIR = stateDir;
  if (configFile) env.OBKIT_CONFIG = configFile;
  env.NODE_COMPILE_CACHE ??= COMPILE_CACHE_DIR;
  // One embedded database for every service, unless the configuration names a PostgreSQL server.
  if (!config.obkit.database.url) env.DATABASE_URL = embeddedDatabaseOf(config).url;
  // The services start beside the database: on a busy machine it may take as long as they may.
  env.OBKIT__OBKIT__DATABASE__CONNECT_TIMEOUT_SECONDS ??= String(READY_TIMEOUT_MS / 1000);
  return { config, configFile, env, stateDir, out };
}

async function takeLock(context: UpContext): Promise<UpLock> {
  const command = ['obkit', ...process.argv.slice(2)].join(' ');
  const stale = await acquireUpLock(context.stateDir, command);
  if (stale)
    context.out(
      `obkit up: took over the lock of pid ${stale.pid} (started ${stale.startedAt}), which is gone`,
    );
  return { pid: process.pid, startedAt: new Date().toISOString(), command, processes: {} };
}

/** Every port the stack listens on, tried before anything starts, so a busy one is named at once. */
async function assertPortsFree(config: Config): Promise<void> {
  const host = config.obkit.bind_address;
  for (const [name, port] of SERVICES.flatMap((service) => {
    const { port, management_port } = config.obkit[configKeyOf(service)];
    return [
      [service, port],
      [`${service} management`, management_port],
    ] as const;
  })) {
    const probe = createServer();
    try {
      probe.listen(port, host);
      await once(probe, 'listening');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(
        `port ${port} (${name}) on ${host} is ${code === 'EADDRINUSE' ? 'in use' : `not available (${code})`}: stop what uses it, or move the whole stack with --base-port N (ports N..N+4 and N+100..N+104)`,
      );
    } finally {
      probe.close();
    }
  }
}

async function runStack(
  context: UpContext,
  lock: UpLock,
  printManifest: ((manifest: EnvironmentManifest) => void) | undefined,
  fail: (message: string, code: number) => number,
): Promise<number> {
  const { config, stateDir, out } = context;
  const started = Date.now();
  out(`obkit up: state directory ${stateDir}`);
  let lockWrites = Promise.resolve();
  const supervisor = new Supervisor({
    logsDir: join(stateDir, 'logs'),
    env: context.env,
    out,
    nodeOptions: NODE_OPTIONS,
    scripts: bundledServices(),
    // One write at a time, in order, all done before the lock is released.
    onStatus: (processes) => {
      lockWrites = lockWrites
        .then(() => updateUpLock(stateDir, { ...lock, processes }))
        .catch(() => undefined);
    },
  });
  // The database needs nothing of the PKI and takes longest to be ready (the services wait for it):
  // it starts first, and opens its cluster while the PKI is checked.
  if (!config.obkit.database.url) supervisor.start(DATABASE);
  let signalled = false;
  let ready = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) return;
      signalled = true;
      out(`\n${signal}: stopping…`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  let code = 0;
  let manifest: EnvironmentManifest | undefined;
  try {
    // What an earlier version (or a wider umask) left readable to others is tightened too.
    await tightenTree(stateDir);
    const pki = await ensureSandboxPki(join(stateDir, 'pki'), { hostnames: [config.obkit.hostname] });
    manifest = localManifest(config, pki, context.configFile);
    manifest.status = 'starting';
    await writeManifest(manifestPath(stateDir), manifest);
    await Promise.race([
      startAndConfigure(context, supervisor, manifest, pki.caBundle, started),
      stopped,
      supervisor.failed,
    ]);
    if (!signalled) {
      ready = true;
      printManifest?.(manifest);
      await Promise.race([stopped, supervisor.failed]);
    }
  } catch (error) {
    code = fail(`obkit up failed: ${(error as Error).message}`, 1);
  }
  await supervisor.stop([[...SERVICES], [DATABASE]]);
  await lockWrites;
  if (manifest) {
    manifest.status = 'stopped';
    await writeManifest(manifestPath(stateDir), manifest);
  }
  out('all processes stopped');
  return code || (signalled && !ready ? 130 : 0);
}

/** Each process's bundle, when the bundles are up to date (`obkit` builds them before loading this). */
function bundledServices(): Record<string, string> | undefined {
  const bundles = freshBundles();
  if (!bundles) return undefined;
  return Object.fromEntries(
    [DATABASE, ...SERVICES].map((name) => {
      const entry = `services/${name}/main.ts`;
      if (!BUNDLE_ENTRIES.includes(entry)) throw new Error(`no bundle entry for ${name}`);
      return [name, bundles.of(entry)];
    }),
  );
}

async function startAndConfigure(
  context: UpContext,
  supervisor: Supervisor,
  manifest: EnvironmentManifest,
  caFile: string,
  started: number,
): Promise<void> {
  const { config, stateDir, out } = context;
  for (const name of SERVICES) supervisor.start(name);
  const names = [...(config.obkit.database.url ? [] : [DATABASE]), ...SERVICES];
  out(`· starting ${names.join(', ')} (logs: obkit logs --state-dir ${stateDir})`);
  // Loaded while the processes start, not before: \`up\` reaches them sooner.
  const [{ configure }, { demoConsentUrl }] = await Promise.all([
    import('./configure.ts'),
    import('./consent-url.ts'),
  ]);
  const ca = await readFile(caFile, 'utf8');
  await Promise.all(
    SERVICES.map((name) => {
      // Health answers on the management listener only: wait for that port, then ask it.
      const service = config.obkit[configKeyOf(name)];
      const listen = { host: config.obkit.bind_address, port: service.management_port };
      return waitReady(supervisor, name, managementUrlOf(config, configKeyOf(name)), listen, ca, out);
    }),
  );
  const target = targetFromManifest(manifest, context.env);
  out('· configuring (key manager → DCR API → banking API → truststore → restart → smoke test)');
  const results = await configure(target, { progress: (line) => out(`    ${line}`) });
  // The actions were shown as progress above; one verdict line per step is enough here.
  out(`  ${results.map((result) => `${result.step}: ${result.status}`).join(' · ')}`);
  // Independent of each other (a fresh product each): prepared side by side.
  const [demo, consent] = await Promise.all([
    prepareDemoRequest(target, stateDir),
    demoConsentUrl(target, stateDir),
  ]);
  manifest.demo = { ...demo.files, consentClient: consent.clientFile };
  manifest.status = 'ready';
  await writeManifest(manifestPath(stateDir), manifest);
  out(summary(target, stateDir, demo, consent, (Date.now() - started) / 1000));
}

/**
 * Polls the service's readiness every 100 ms: a bare TCP connect to its bind address until it listens
 * (no DNS, TLS or HTTP per attempt: polling four starting services that way cost the CLI more CPU than
 * anything else it did), then `/health/ready` over one kept-alive TLS connection.
 */
async function waitReady(
  supervisor: Supervisor,
  name: ServiceName,
  url: string,
  listen: { host: string; port: number },
  ca: string,
  out: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const dispatcher = new Agent({ connect: { ca }, keepAliveTimeout: 5000 });
  let last = 'no answer';
  try {
    while (Date.now() < deadline && !supervisor.stopping) {
      last = (await listening(listen.host, listen.port))
        ? await readiness(url, dispatcher)
        : 'not listening yet';
      if (last === 'ready') {
        out(`  ✓ ${name} ready (${url}/health/ready)`);
        return;
      }
      await sleep(100);
    }
  } finally {
    await dispatcher.close();
  }
  throw new Error(
    `${name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${last}); see ${supervisor.logFile(name)}`,
  );
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `ready`, or why not. */
async function readiness(url: string, dispatcher: Agent): Promise<string> {
  try {
    const response = await request(`${url}/health/ready`, {
      dispatcher,
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    const body = (await response.body.json().catch(() => ({}))) as { checks?: Record<string, string> };
    return response.statusCode === 200
      ? 'ready'
      : `HTTP ${response.statusCode} ${JSON.stringify(body.checks ?? {})}`;
  } catch (error) {
    return (error as Error).message;
  }
}

export interface DemoRequest {
  files: { requestJwt: string; signingKey: string; softwareProduct: string };
  expiresAt: Date;
  curl: string;
}

/**
 * A registration request a developer can send with curl: a fresh sandbox software product (so it is
 * never a duplicate), its signing key kept in the state directory (to get tokens for the client later),
 * and the request JWT, valid as long as its SSA.
 */
export async function prepareDemoRequest(target: Target, stateDir: string): Promise<DemoRequest> {
  const dir = join(stateDir, 'demo');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [{ sandboxRecipient }, { buildRegistrationRequest }] = await Promise.all([
    import('./smoke.ts'),
    import('../../lib/cdr/index.ts'),
  ]);
  const recipient = await sandboxRecipient(target, 'demo');
  const ssaExp = Number(JSON.parse(Buffer.from(recipient.ssa.split('.')[1]!, 'base64url').toString()).exp);
  const now = Math.floor(Date.now() / 1000);
  const request = await buildRegistrationRequest({
    ssa: recipient.ssa,
    audience: target.manifest.identityServer.issuer,
    key: recipient.key,
    now,
    expiresIn: Math.max(60, ssaExp - now),
  });
  const files = {
    requestJwt: join(dir, 'registration-request.jwt'),
    signingKey: join(dir, 'signing-key.jwk.json'),
    softwareProduct: join(dir, 'software-product.json'),
  };
  await writeFile(files.requestJwt, request);
  await writeFile(files.signingKey, `${JSON.stringify(recipient.key.privateJwk, null, 2)}\n`, {
    mode: 0o600,
  });
  await chmod(files.signingKey, 0o600);
  await writeFile(
    files.softwareProduct,
    `${JSON.stringify({ softwareProductId: recipient.softwareProductId, brandId: recipient.brandId, ssa: recipient.ssa }, null, 2)}\n`,
  );
  const { pki, gateway } = target.manifest;
  const curl = [
    'curl',
    '--cert',
    quote(pki.clientCertificate!),
    '--key',
    quote(pki.clientKey!),
    '--cacert',
    quote(pki.caCertificate),
    '-H',
    "'Content-Type: application/jwt'",
    '--data-binary',
    `@${quote(files.requestJwt)}`,
    `${gateway.url}/open-banking/0.2/register`,
  ].join(' ');
  return { files, expiresAt: new Date(Math.min(ssaExp, now + 3600) * 1000), curl };
}

function summary(
  target: Target,
  stateDir: string,
  demo: DemoRequest,
  consent: PushedAuthorization,
  seconds: number,
): string {
  const m = target.manifest;
  return `
obkit is up (sandbox) in ${seconds.toFixed(1)} s

  gateway          ${m.gateway.url}   (mutual TLS; DCR at /open-banking/0.2/register)
  identity server  ${m.identityServer.url}   issuer ${m.identityServer.issuer}
  api manager      ${m.apiManager.url}
  mock register    ${m.mockRegister?.url ?? '-'}
  banking          ${m.banking ? `${m.banking.url}   (behind the gateway: /cds-au/v1/banking)` : '-'}

  CA bundle        ${m.pki.caCertificate}
  client cert/key  ${m.pki.clientCertificate}  ${m.pki.clientKey}
  admin credential ${m.admin.credentialFile} (user ${m.admin.username})
  manifest         ${manifestPath(stateDir)}  (status ready)
  logs             obkit logs [SERVICE] [--follow] --state-dir ${stateDir}

Register a client through the gateway (request valid until ${demo.expiresAt.toLocaleTimeString()}):

  ${demo.curl}

Give consent as a sandbox test customer (the demo client; valid ${consent.expiresIn} s — \`obkit consent-url
--state-dir ${stateDir}\` pushes a fresh one; the browser ends at the client's redirect URI with the
signed response in the address bar):

  ${consent.authorizeUrl}

A test customer's arrangements, to stop one (the recipient is notified at its revocation_uri):

  ${target.manifest.identityServer.url}/consent/dashboard

Ctrl-C (or \`obkit down --state-dir ${stateDir}\` from another terminal) stops every service.`;
}

function quote(value: string): string {
  return /^[\w./@:=+-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
