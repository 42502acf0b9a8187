import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { COMPONENTS, MANAGEMENT_PORT_OFFSET } from './components.ts';
import { configSchema, type RawConfig } from './schema.ts';

export { MANAGEMENT_PORT_OFFSET } from './components.ts';
export { configSchema } from './schema.ts';

type RawLimits = RawConfig['obkit']['limits'];
type QuotaSetting = NonNullable<RawLimits['token_per_client']>;
/** Abuse limits with the mode's defaults filled in. */
export type Limits = {
  [K in keyof RawLimits]-?: K extends 'admin_lockout'
    ? NonNullable<RawLimits['admin_lockout']>
    : K extends 'plan_sync_interval_ms'
      ? number
      : QuotaSetting;
};

/** Validated configuration: URLs and management ports derived, paths absolute, sandbox-only settings checked. */
export type Config = RawConfig & {
  obkit: { allow_private_addresses: boolean; limits: Limits } & {
    [S in ServiceName]: RawConfig['obkit'][S] & { management_port: number };
  };
};

/**
 * Default abuse limits. Production: tight enough to slow password guessing and floods from one caller,
 * loose enough for a recipient's normal use (a token every few seconds, a few registration calls a
 * minute). Sandbox: ten times that, so `obkit up`, the smoke test and local development never meet
 * them; the benchmarks set their own (bench/).
 */
export const DEFAULT_LIMITS: Record<'sandbox' | 'production', Omit<Limits, 'plan_sync_interval_ms'>> = {
  production: {
    token_per_client: { requests: 120, window_seconds: 60 },
    token_per_source: { requests: 600, window_seconds: 60 },
    dcr_per_client: { requests: 30, window_seconds: 60 },
    dcr_per_source: { requests: 120, window_seconds: 60 },
    admin_lockout: { max_failures: 5, window_seconds: 900, lockout_seconds: 900 },
  },
  sandbox: {
    token_per_client: { requests: 1200, window_seconds: 60 },
    token_per_source: { requests: 6000, window_seconds: 60 },
    dcr_per_client: { requests: 300, window_seconds: 60 },
    dcr_per_source: { requests: 1200, window_seconds: 60 },
    admin_lockout: { max_failures: 20, window_seconds: 300, lockout_seconds: 60 },
  },
};

/** Each component's configuration section (`obkit.<name>`), from the one component table. */
export const SERVICE_NAMES = Object.values(COMPONENTS).map((component) => component.configKey);
export type ServiceName = (typeof COMPONENTS)[keyof typeof COMPONENTS]['configKey'];

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

/**
 * Environment variables that override one key each: `OBKIT__SECTION__KEY`, plus conventional names
 * (`DATABASE_URL`, `OBKIT_ADMIN_PASSWORD`, `OBKIT_DCR_BACKEND_PASSWORD`, `OBKIT_ENCRYPTION_KEY`,
 * `OBKIT_STATE_DIR`), which give way to the `OBKIT__` form.
 */
export function environmentOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  if (env.OBKIT_STATE_DIR) setPath(overrides, ['obkit', 'state_dir'], env.OBKIT_STATE_DIR);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith(ENV_PREFIX)) continue;
    setPath(overrides, name.slice(ENV_PREFIX.length).toLowerCase().split('__'), parseScalar(value));
  }
  if (env.DATABASE_URL) setPath(overrides, ['obkit', 'database', 'url'], env.DATABASE_URL);
  if (env.OBKIT_ADMIN_PASSWORD) setPath(overrides, ['obkit', 'admin', 'password'], env.OBKIT_ADMIN_PASSWORD);
  if (env.OBKIT_ENCRYPTION_KEY)
    setPath(overrides, ['obkit', 'secrets', 'encryption_key'], env.OBKIT_ENCRYPTION_KEY);
  if (env.OBKIT_DCR_BACKEND_PASSWORD)
    setPath(overrides, ['obkit', 'dcr_backend', 'password'], env.OBKIT_DCR_BACKEND_PASSWORD);
  return overrides;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const merged = deepMerge(
    deepMerge(readConfigFile(options.file ?? env.OBKIT_CONFIG), environmentOverrides(env)),
    options.overrides ?? {},
  );
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(issue.path.join('.') || '(root)', issue.message);
  }
  return resolveConfig(parsed.data);
}

/**
 * The state directory as every component resolves it (`--state-dir` flag when given, then
 * `OBKIT__OBKIT__STATE_DIR` / `OBKIT_STATE_DIR`, the TOML's `obkit.state_dir`, `.obkit`), without
 * validating the rest of the configuration: commands that only need the directory work everywhere.
 */
export function configuredStateDir(
  flag: string | undefined,
  options: { file?: string | undefined; env?: NodeJS.ProcessEnv } = {},
): string {
  if (flag) return resolve(flag);
  const env = options.env ?? process.env;
  const merged = deepMerge(readConfigFile(options.file ?? env.OBKIT_CONFIG), environmentOverrides(env));
  const value = (merged.obkit as { state_dir?: unknown } | undefined)?.state_dir;
  return resolve(typeof value === 'string' && value ? value : '.obkit');
}

function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('file', `cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError('file', `${file} is not valid TOML: ${(error as Error).message}`);
  }
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
  const pki = resolveTlsPaths(ob.tls, stateDir);
  const tls = ob.tls;
  const ownVaultDir = !ob.vault_dir;
  ob.vault_dir = resolve(ob.vault_dir || join(stateDir, 'vault'));
  if (tls.outbound_ca) tls.outbound_ca = resolve(tls.outbound_ca);
  else if (sandbox) tls.outbound_ca = join(pki, 'ca.pem');
  resolveServiceUrls(ob);
  const dcr = raw.open_banking.dcr;
  if (!sandbox && dcr.jwks_url_sandbox) {
    throw new ConfigError(
      'open_banking.dcr.jwks_url_sandbox',
      'must be empty in production mode: software statements of the sandbox Register are not accepted there',
    );
  }
  // The sandbox Register signs sandbox SSAs unless another Register is configured.
  if (sandbox && !dcr.jwks_url_sandbox && ob.mock_register.url)
    dcr.jwks_url_sandbox = `${ob.mock_register.url}/cdr-register/v1/jwks`;
  // The sandbox Register's status lists too, unless another Register is configured.
  if (sandbox && !ob.register_status.url && ob.mock_register.url)
    ob.register_status.url = ob.mock_register.url;
  // Outside sandbox only the services that check it require it (requireAdminPassword): the gateway has none.
  if (!ob.admin.password && sandbox) ob.admin.password = sandboxAdminPassword(stateDir);
  const weakness = sandbox || !ob.admin.password ? undefined : passwordWeakness(ob.admin.password);
  if (weakness) throw new ConfigError('obkit.admin.password', `too weak for production mode: ${weakness}`);
  const limits = { ...DEFAULT_LIMITS[ob.mode], ...definedEntries(ob.limits) } as Limits;
  // Production names its key (a Secret); only sandbox gets one generated in the state directory.
  const secrets = ob.secrets;
  if (secrets.encryption_key_file) secrets.encryption_key_file = resolve(secrets.encryption_key_file);
  else if (sandbox) secrets.encryption_key_file = join(stateDir, 'encryption.key');
  resolveDcrBackendCredential(ob, stateDir, sandbox, ownVaultDir);
  return {
    ...raw,
    obkit: {
      ...ob,
      state_dir: stateDir,
      allow_private_addresses: ob.allow_private_addresses ?? sandbox,
      limits,
    },
  } as Config;
}

/** TLS files default to the sandbox PKI under the state directory; every path made absolute. */
function resolveTlsPaths(tls: RawConfig['obkit']['tls'], stateDir: string): string {
  const pki = join(stateDir, 'pki');
  tls.certificate = resolve(tls.certificate || join(pki, 'server.pem'));
  tls.private_key = resolve(tls.private_key || join(pki, 'server.key'));
  tls.truststore = resolve(tls.truststore || join(pki, 'truststore.pem'));
  tls.internal_ca = resolve(tls.internal_ca || join(pki, 'internal-ca.pem'));
  tls.internal_client_certificate = resolve(
    tls.internal_client_certificate || join(pki, 'gateway-internal.pem'),
  );
  tls.internal_client_key = resolve(tls.internal_client_key || join(pki, 'gateway-internal.key'));
  tls.banking_client_certificate = resolve(
    tls.banking_client_certificate || join(pki, 'banking-internal.pem'),
  );
  tls.banking_client_key = resolve(tls.banking_client_key || join(pki, 'banking-internal.key'));
  return pki;
}

/** Each service's URL (from hostname and port unless given) and its management port. */
function resolveServiceUrls(ob: RawConfig['obkit']): void {
  for (const name of SERVICE_NAMES) {
    const svc = ob[name];
    // Port 0 (tests): the service binds first and derives its URL with `serviceUrl` from the bound port.
    if (!svc.url && svc.port !== 0) svc.url = serviceUrl(ob.hostname, svc.port);
    svc.url = svc.url.replace(/\/+$/, '');
    svc.management_port ??= svc.port === 0 ? 0 : svc.port + MANAGEMENT_PORT_OFFSET;
    if (svc.management_port > 65_535) {
      throw new ConfigError(
        `obkit.${name}.management_port`,
        `${svc.port} + ${MANAGEMENT_PORT_OFFSET} is not a port: set it explicitly`,
      );
    }
    if (svc.management_port !== 0 && svc.management_port === svc.port) {
      throw new ConfigError(`obkit.${name}.management_port`, 'must differ from the public port');
    }
  }
}

/** The gateway's DCR backend credential: its own, strong in production, generated and vaulted in sandbox. */
function resolveDcrBackendCredential(
  ob: RawConfig['obkit'],
  stateDir: string,
  sandbox: boolean,
  ownVaultDir: boolean,
): void {
  if (ob.dcr_backend.password && ob.dcr_backend.password === ob.admin.password) {
    throw new ConfigError(
      'obkit.dcr_backend.password',
      "must differ from obkit.admin.password: the gateway's credential is its own",
    );
  }
  if (sandbox) {
    ob.dcr_backend.password ||= sandboxPassword(join(stateDir, 'dcr-backend-credential.json'));
    // A vault directory the operator configured (the chart's mounted Secret) is theirs to fill.
    if (ownVaultDir) {
      writeSandboxVaultEntry(
        ob.vault_dir,
        DCR_BACKEND_VAULT_ALIAS,
        basicAuthorization(ob.dcr_backend.username, ob.dcr_backend.password),
      );
    }
  } else if (ob.dcr_backend.password) {
    const problem = passwordWeakness(ob.dcr_backend.password);
    if (problem)
      throw new ConfigError('obkit.dcr_backend.password', `too weak for production mode: ${problem}`);
  }
}

/** Least length of a production credential (`obkit up` generates 24 random characters in sandbox). */
export const MIN_PASSWORD_LENGTH = 16;
/** Least number of distinct characters: refuses `aaaa…` and a default repeated (`adminadminadmin1`). */
const MIN_DISTINCT_CHARACTERS = 8;

/**
 * Why a production password is weak, or undefined: shorter than 16 characters (every well-known default —
 * `admin`, `wso2carbon`, `changeme` — is), or fewer than 8 distinct characters.
 */
export function passwordWeakness(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return `${password.length} characters, at least ${MIN_PASSWORD_LENGTH} are required`;
  }
  if (new Set(password).size < MIN_DISTINCT_CHARACTERS) {
    return `fewer than ${MIN_DISTINCT_CHARACTERS} distinct characters`;
  }
  return undefined;
}

/**
 * The alias under which the gateway's secret store (`obkit.vault_dir`) holds the `Authorization` value
 * it sends the identity server's DCR backend — the name the DCR in-sequence passes to
 * `wso2:vault-lookup`, and the one an operator creates in WSO2's secure vault.
 */
export const DCR_BACKEND_VAULT_ALIAS = 'obkit.dcr.backend.authorization';

/** `Basic base64(user:password)`, the value a Basic credential's vault entry holds. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** For the services that accept the admin credential (identity server, api-manager): none by default. */
export function requireAdminPassword(config: Config): void {
  if (!config.obkit.admin.password) {
    throw new ConfigError('obkit.admin.password', 'required outside sandbox mode (set OBKIT_ADMIN_PASSWORD)');
  }
}

/** The identity server's issuer, as WSO2 IS publishes it. */
export function issuerOf(config: Config): string {
  return `${config.obkit.identity_server.url}/oauth2/token`;
}

/**
 * `obkit up`'s embedded database: one PGlite cluster in the state directory, served on a Unix socket in
 * its owner-only `run/` directory (no TCP listener: every TCP listener speaks the TLS profile), reached
 * by the services as an ordinary `DATABASE_URL`.
 */
export function embeddedDatabaseOf(config: Config): { dataDir: string; socketPath: string; url: string } {
  const socketDir = join(config.obkit.state_dir, 'run');
  return {
    dataDir: join(config.obkit.state_dir, 'data', 'postgres'),
    socketPath: join(socketDir, '.s.PGSQL.5432'),
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(socketDir)}`,
  };
}

/** Where a service serves `/health/*` and `/metrics` (its management listener). */
export function managementUrlOf(config: Config, service: ServiceName): string {
  return serviceUrl(config.obkit.hostname, config.obkit[service].management_port);
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
  return sandboxPassword(join(stateDir, 'admin-credential.json'));
}

/** Sandbox only: a strong random password generated once into `file` (`{"password"}`, mode 0600). */
function sandboxPassword(file: string): string {
  if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { password: string }).password;
  mkdirSync(dirname(file), { recursive: true });
  const password = randomBytes(18).toString('base64url');
  try {
    writeFileSync(file, `${JSON.stringify({ password }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another service created it first: use theirs, so every component agrees on one credential.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return sandboxPassword(file);
  }
  return password;
}

/**
 * Sandbox only, in the state directory's own vault (`<state_dir>/vault`): the gateway's secret store
 * holds the service credential in force, as an operator puts it into WSO2's secure vault or the
 * chart's Secret.
 */
function writeSandboxVaultEntry(vaultDir: string, alias: string, value: string): void {
  const file = join(vaultDir, alias);
  if (existsSync(file) && readFileSync(file, 'utf8') === value) return;
  mkdirSync(vaultDir, { recursive: true, mode: 0o700 });
  // Written whole then renamed: a service starting beside this one never reads half an entry.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, value, { mode: 0o600 });
  renameSync(temporary, file);
}

/** `https://host:port` for a host name or IP literal. */
export function serviceUrl(hostname: string, port: number): string {
  return `https://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
}

function definedEntries<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
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
