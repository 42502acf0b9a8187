import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRegistrationRequest } from '../../lib/cdr/index.ts';
import { type Config, ConfigError, loadConfig } from '../../lib/config/index.ts';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { HttpClient } from './api-client.ts';
import { configure } from './configure.ts';
import { sandboxRecipient } from './smoke.ts';
import { localManifest, manifestPath, type Target, targetFromManifest, writeManifest } from './target.ts';

/**
 * `obkit up`: the whole stack as local child processes on the embedded database, configured by the same
 * steps as any other target and proven by the smoke registration. Everything lives in the state
 * directory (PKI, PGlite data, logs, manifest), so a second `up` on it keeps every registration.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVICES = ['mock-register', 'identity-server', 'api-manager', 'gateway'] as const;
type ServiceName = (typeof SERVICES)[number];
const CONFIG_KEY = {
  'mock-register': 'mock_register',
  'identity-server': 'identity_server',
  'api-manager': 'api_manager',
  gateway: 'gateway',
} as const;
/** `--base-port N`: gateway N, identity-server N+1, api-manager N+2, mock-register N+3. */
const PORT_OFFSET: Record<ServiceName, number> = {
  gateway: 0,
  'identity-server': 1,
  'api-manager': 2,
  'mock-register': 3,
};
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;

export const upOptions = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  'base-port': { type: 'string' },
} as const;

export const UP_HELP = `Usage: obkit up [--config FILE] [--state-dir DIR] [--base-port N]

Starts mock-register, identity-server, api-manager and gateway locally (sandbox mode, PGlite data under
the state directory), waits until each answers /health/ready, runs every configure step and the smoke
registration, writes <state-dir>/environment.json and prints the URLs, certificate paths and a curl
registration to paste. Stays in the foreground; Ctrl-C (SIGINT) or SIGTERM stops every service.
A service that dies is reported with the last lines of its log (<state-dir>/logs/<service>.log).
Running it again on the same state directory reuses the PKI, the data and every registration.

  --config FILE          obkit TOML (also OBKIT_CONFIG), passed to every service
  --state-dir DIR        state directory (default: obkit.state_dir of the config, .obkit)
  --base-port N          ports N (gateway), N+1 (identity-server), N+2 (api-manager), N+3 (mock-register)
                         instead of 8243, 9446, 9443, 7000`;

export interface UpValues {
  config?: string;
  'state-dir'?: string;
  'base-port'?: string;
}

export async function runUp(
  values: UpValues,
  out: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env };
  const configFile = values.config ? resolve(values.config) : env.OBKIT_CONFIG;
  if (values['state-dir']) env.OBKIT__OBKIT__STATE_DIR = resolve(values['state-dir']);
  if (values['base-port'] !== undefined) {
    const base = Number(values['base-port']);
    if (!Number.isInteger(base) || base < 1 || base > 65_532) {
      out('obkit up: --base-port must be an integer between 1 and 65532');
      return 2;
    }
    for (const name of SERVICES)
      env[`OBKIT__OBKIT__${CONFIG_KEY[name].toUpperCase()}__PORT`] = String(base + PORT_OFFSET[name]);
  }
  let config: Config;
  try {
    config = loadConfig({ file: configFile, env });
    if (config.obkit.mode !== 'sandbox') {
      throw new ConfigError(
        'obkit.mode',
        '`obkit up` runs the sandbox locally; deploy production with the Pulumi stack',
      );
    }
    for (const name of SERVICES) {
      if (config.obkit[CONFIG_KEY[name]].port === 0)
        throw new ConfigError(`obkit.${CONFIG_KEY[name]}.port`, 'obkit up needs fixed ports');
    }
  } catch (error) {
    out(`obkit up: ${(error as Error).message}`);
    return 2;
  }
  const stateDir = config.obkit.state_dir;
  env.OBKIT__OBKIT__STATE_DIR = stateDir;
  if (configFile) env.OBKIT_CONFIG = configFile;

  out(`obkit up: state directory ${stateDir}`);
  const pki = await ensureSandboxPki(join(stateDir, 'pki'), { hostnames: [config.obkit.hostname] });
  const manifest = localManifest(config, pki, configFile);
  const stack = new LocalStack(stateDir, env, out);
  const stopOnSignal = (signal: NodeJS.Signals) => {
    out(`\n${signal}: stopping services…`);
    void stack.stop('signal');
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);
  try {
    for (const name of SERVICES) stack.start(name);
    out(`· starting ${SERVICES.join(', ')} (logs in ${join(stateDir, 'logs')})`);
    await Promise.race([
      Promise.all(
        SERVICES.map((name) => waitReady(stack, name, config.obkit[CONFIG_KEY[name]].url, pki.caBundle, out)),
      ),
      stack.failed,
    ]);
    await writeManifest(manifestPath(stateDir), manifest);
    const target = targetFromManifest(manifest, env);
    out('· configuring (key manager → DCR API → truststore → restart → smoke test)');
    const results = await Promise.race([
      configure(target, { progress: (line) => out(`    ${line}`) }),
      stack.failed,
    ]);
    // The actions were shown as progress above; one verdict line per step is enough here.
    out(`  ${results.map((result) => `${result.step}: ${result.status}`).join(' · ')}`);
    const demo = await prepareDemoRequest(target, stateDir);
    manifest.demo = demo.files;
    await writeManifest(manifestPath(stateDir), manifest);
    out(summary(target, stateDir, demo, (Date.now() - started) / 1000));
  } catch (error) {
    if (stack.stopping && stack.reason === 'signal') {
      await stack.stopped;
      return 130;
    }
    out(`obkit up failed: ${(error as Error).message}`);
    await stack.stop('failure');
    return 1;
  }
  const reason = await stack.stopped;
  process.off('SIGINT', stopOnSignal);
  process.off('SIGTERM', stopOnSignal);
  return reason === 'signal' ? 0 : 1;
}

/** The child processes, their logs, and one way to stop them all. */
class LocalStack {
  readonly #children = new Map<ServiceName, ChildProcess>();
  readonly #stateDir: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #out: (line: string) => void;
  stopping = false;
  reason: 'signal' | 'failure' | undefined;
  #resolveStopped!: (reason: 'signal' | 'failure') => void;
  readonly stopped = new Promise<'signal' | 'failure'>((resolve) => {
    this.#resolveStopped = resolve;
  });
  #rejectFailed!: (error: Error) => void;
  /** Rejects when a service dies; never resolves. */
  readonly failed = new Promise<never>((_resolve, reject) => {
    this.#rejectFailed = reject;
  });

  constructor(stateDir: string, env: NodeJS.ProcessEnv, out: (line: string) => void) {
    this.#stateDir = stateDir;
    this.#env = env;
    this.#out = out;
    this.failed.catch(() => undefined);
  }

  logFile(name: ServiceName): string {
    return join(this.#stateDir, 'logs', `${name}.log`);
  }

  start(name: ServiceName): void {
    const log = this.logFile(name);
    // Synchronous on purpose: the log file must exist before the child is spawned.
    mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
    const fd = openSync(log, 'a', 0o600);
    writeSync(fd, `--- obkit up ${new Date().toISOString()} ---\n`);
    const child = spawn(process.execPath, [join(ROOT, 'services', name, 'main.ts')], {
      env: this.#env,
      stdio: ['ignore', fd, fd],
      cwd: ROOT,
    });
    closeSync(fd);
    this.#children.set(name, child);
    child.on('exit', (code, signal) => {
      this.#children.delete(name);
      if (this.stopping) return;
      void this.#died(name, code, signal);
    });
  }

  async #died(name: ServiceName, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const tail = await lastLines(this.logFile(name), 20);
    const message = `${name} exited (${signal ?? `code ${code}`}); last lines of ${this.logFile(name)}:\n${tail}`;
    this.#out(`obkit up: ${message}`);
    this.#rejectFailed(new Error(`${name} exited`));
    await this.stop('failure');
  }

  async stop(reason: 'signal' | 'failure'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.reason = reason;
    const exits = [...this.#children.entries()].map(
      ([name, child]) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#out(`  ${name} did not stop in ${STOP_TIMEOUT_MS / 1000} s: killing it`);
            child.kill('SIGKILL');
          }, STOP_TIMEOUT_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    this.#out('all services stopped');
    this.#resolveStopped(reason);
  }

  isRunning(name: ServiceName): boolean {
    return this.#children.has(name);
  }
}

async function waitReady(
  stack: LocalStack,
  name: ServiceName,
  url: string,
  caFile: string,
  out: (line: string) => void,
): Promise<void> {
  const ca = await readFile(caFile, 'utf8');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const http = new HttpClient({ baseUrl: url, tls: { ca }, retries: 0, timeoutMs: 2000 });
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!stack.isRunning(name) || stack.stopping) throw new Error(`${name} is not running`);
    try {
      const response = await http.request<{ checks?: Record<string, string> }>('GET', '/health/ready', {
        expect: [200, 503],
      });
      if (response.status === 200) {
        out(`  ✓ ${name} ready at ${url}`);
        return;
      }
      last = JSON.stringify(response.data.checks ?? response.data);
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(
    `${name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${last}); see ${stack.logFile(name)}`,
  );
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

function summary(target: Target, stateDir: string, demo: DemoRequest, seconds: number): string {
  const m = target.manifest;
  return `
obkit is up (sandbox) in ${seconds.toFixed(1)} s

  gateway          ${m.gateway.url}   (mutual TLS; DCR at /open-banking/0.2/register)
  identity server  ${m.identityServer.url}   issuer ${m.identityServer.issuer}
  api manager      ${m.apiManager.url}
  mock register    ${m.mockRegister?.url ?? '-'}

  CA bundle        ${m.pki.caCertificate}
  client cert/key  ${m.pki.clientCertificate}  ${m.pki.clientKey}
  admin credential ${m.admin.credentialFile} (user ${m.admin.username})
  manifest         ${manifestPath(stateDir)}
  logs             ${join(stateDir, 'logs')}/<service>.log

Register a client through the gateway (request valid until ${demo.expiresAt.toLocaleTimeString()}):

  ${demo.curl}

Ctrl-C stops every service.`;
}

async function lastLines(file: string, count: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no log)';
  }
}

function quote(value: string): string {
  return /^[\w./@:=+-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
