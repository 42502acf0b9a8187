import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { configSchema, type RawConfig } from './schema.ts';

export { configSchema } from './schema.ts';

/** Validated configuration: URLs derived, paths absolute, sandbox-only settings checked. */
export type Config = RawConfig & { obkit: { allow_private_addresses: boolean } };

export type ServiceName = 'identity_server' | 'api_manager' | 'gateway' | 'mock_register';

/** A configuration problem, named by its key so the operator can find it in the TOML or environment. */
export class ConfigError extends Error {
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`invalid configuration: ${key}: ${problem}`);
    this.name = 'ConfigError';
    this.key = key;
  }
}

export interface LoadConfigOptions {
  /** TOML file; defaults to env OBKIT_CONFIG; no file means defaults + environment. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Programmatic overrides (tests, `obkit up`), applied after the environment, as a TOML-shaped object. */
  overrides?: Record<string, unknown>;
}

const ENV_PREFIX = 'OBKIT__';

/** Environment variables that override one key each: `OBKIT__SECTION__KEY`, plus two conventional names. */
export function environmentOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith(ENV_PREFIX)) continue;
    setPath(overrides, name.slice(ENV_PREFIX.length).toLowerCase().split('__'), parseScalar(value));
  }
  if (env.DATABASE_URL) setPath(overrides, ['obkit', 'database', 'url'], env.DATABASE_URL);
  if (env.OBKIT_ADMIN_PASSWORD) setPath(overrides, ['obkit', 'admin', 'password'], env.OBKIT_ADMIN_PASSWORD);
  return overrides;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.OBKIT_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError('file', `cannot read ${file}: ${(error as Error).message}`);
    }
    try {
      fromFile = parseToml(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError('file', `${file} is not valid TOML: ${(error as Error).message}`);
    }
  }
  const merged = deepMerge(deepMerge(fromFile, environmentOverrides(env)), options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(issue.path.join('.') || '(root)', issue.message);
  }
  return resolveConfig(parsed.data);
}

function resolveConfig(raw: RawConfig): Config {
  const ob = raw.obkit;
  const sandbox = ob.mode === 'sandbox';
  if (ob.allow_private_addresses && !sandbox) {
    throw new ConfigError(
      'obkit.allow_private_addresses',
      'private addresses may only be allowed in sandbox mode',
    );
  }
  const stateDir = resolve(ob.state_dir);
  const pki = join(stateDir, 'pki');
  const tls = ob.tls;
  tls.certificate = resolve(tls.certificate || join(pki, 'server.pem'));
  tls.private_key = resolve(tls.private_key || join(pki, 'server.key'));
  tls.truststore = resolve(tls.truststore || join(pki, 'truststore.pem'));
  tls.internal_ca = resolve(tls.internal_ca || join(pki, 'internal-ca.pem'));
  tls.internal_client_certificate = resolve(
    tls.internal_client_certificate || join(pki, 'gateway-internal.pem'),
  );
  tls.internal_client_key = resolve(tls.internal_client_key || join(pki, 'gateway-internal.key'));
  if (tls.outbound_ca) tls.outbound_ca = resolve(tls.outbound_ca);
  else if (sandbox) tls.outbound_ca = join(pki, 'ca.pem');
  for (const name of ['identity_server', 'api_manager', 'gateway', 'mock_register'] as const) {
    const svc = ob[name];
    // Port 0 (tests): the service binds first and derives its URL with `serviceUrl` from the bound port.
    if (!svc.url && svc.port !== 0) svc.url = serviceUrl(ob.hostname, svc.port);
    svc.url = svc.url.replace(/\/+$/, '');
  }
  const dcr = raw.open_banking.dcr;
  // The sandbox Register signs sandbox SSAs unless another Register is configured.
  if (sandbox && !dcr.jwks_url_sandbox && ob.mock_register.url)
    dcr.jwks_url_sandbox = `${ob.mock_register.url}/cdr-register/v1/jwks`;
  if (!ob.admin.password) {
    if (!sandbox) {
      throw new ConfigError(
        'obkit.admin.password',
        'required outside sandbox mode (set OBKIT_ADMIN_PASSWORD)',
      );
    }
    ob.admin.password = sandboxAdminPassword(stateDir);
  }
  return {
    ...raw,
    obkit: { ...ob, state_dir: stateDir, allow_private_addresses: ob.allow_private_addresses ?? sandbox },
  };
}

/** The identity server's issuer, as WSO2 IS publishes it. */
export function issuerOf(config: Config): string {
  return `${config.obkit.identity_server.url}/oauth2/token`;
}

/** PGlite data directory of a service when no DATABASE_URL is set. */
export function dataDirOf(config: Config, service: ServiceName): string {
  return join(config.obkit.state_dir, 'data', service.replaceAll('_', '-'));
}

/**
 * Sandbox only: one generated admin password per state directory, shared by every local service and
 * the scripts, stored with owner-only permissions. Production has no default password.
 */
export function sandboxAdminPassword(stateDir: string): string {
  const file = join(stateDir, 'admin-credential.json');
  if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { password: string }).password;
  mkdirSync(stateDir, { recursive: true });
  const password = randomBytes(18).toString('base64url');
  try {
    writeFileSync(file, `${JSON.stringify({ password }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another service created it first: use theirs, so every component agrees on one credential.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return sandboxAdminPassword(stateDir);
  }
  return password;
}

/** `https://host:port` for a host name or IP literal. */
export function serviceUrl(hostname: string, port: number): string {
  return `https://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
}

function parseScalar(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+$/.test(value)) return Number(value);
  if (value.startsWith('[')) {
    try {
      return parseToml(`v = ${value}`).v;
    } catch {
      return value;
    }
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `over` laid on `base`, nested objects merged key by key (arrays and scalars replaced): how overrides combine. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key], value) : value;
  }
  return out;
}
