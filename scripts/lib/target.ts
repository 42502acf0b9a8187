import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type EnvironmentManifest,
  parseEnvironmentManifest,
  type TargetKind,
  type TruststoreFormat,
} from '../../lib/config/environment-manifest.ts';
import type { Config } from '../../lib/config/index.ts';
import { configuredStateDir, issuerOf, managementUrlOf } from '../../lib/config/index.ts';
import type { SandboxPki } from '../../lib/pki/index.ts';
import { createHttpClient, type HttpClient, type HttpClientOptions } from './api-client/http.ts';

/**
 * Where the scripts act: a local obkit stack (`native`), obkit on Kubernetes (`kubernetes`) or a real
 * WSO2 deployment (`wso2`). A target comes from an environment manifest (`environment.json`, written by
 * `obkit up` or by the Pulumi stack for its Jobs) or from flags and environment variables. Manifests
 * name where the admin credential is, never the credential itself.
 */

/** WSO2's default names: the gateway environment APIs deploy to, the truststore it ships and its password. */
export const WSO2_DEFAULTS = {
  gatewayEnvironment: 'Default',
  truststore: 'client-truststore.jks',
  truststorePassword: 'wso2carbon',
} as const;

export interface Target {
  manifest: EnvironmentManifest;
  admin: { username: string; password: string };
  /** The identity server's admin (DCR backend Basic credential, key-manager connector). */
  identityServerAdmin: { username: string; password: string };
  /** The sandbox Register's admin (its software-product API), the API manager's admin unless told. */
  registerAdmin: { username: string; password: string };
  ca: string | undefined;
  /** The recipient's transport certificate used by the smoke test, when there is one. */
  clientCertificate: { certificate: string; key: string } | undefined;
  truststorePassword?: string;
  http(baseUrl: string, options?: Partial<HttpClientOptions>): HttpClient;
  /**
   * The `Host` a request to `url` must carry: the gateway's vhost when the gateway is reached by another
   * name (its in-cluster Service), for it routes by vhost; undefined otherwise.
   */
  hostHeaderFor(url: string): string | undefined;
}

/** The flags every script takes to pick its target (node:util parseArgs shape). */
export const targetOptions = {
  environment: { type: 'string' },
  'state-dir': { type: 'string' },
  target: { type: 'string' },
  apim: { type: 'string' },
  is: { type: 'string' },
  gateway: { type: 'string' },
  'admin-user': { type: 'string' },
  ca: { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  truststore: { type: 'string' },
  'gateway-environment': { type: 'string' },
  vhost: { type: 'string' },
  register: { type: 'string' },
  'restart-command': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const TARGET_HELP = `Target (one of):
  --environment FILE     an environment manifest (default <state-dir>/environment.json)
  --state-dir DIR        obkit state directory (default: OBKIT_STATE_DIR, obkit.state_dir of
                         OBKIT_CONFIG, .obkit — the setting the services read)
  --target wso2|kubernetes --apim URL --is URL --gateway URL [--admin-user NAME]
                         a deployment given by flags; the admin password comes from OBKIT_ADMIN_PASSWORD
                         (the identity server's from OBKIT_IS_ADMIN_PASSWORD, default the same)
  --ca FILE              CA certificates the services' TLS chains to
  --client-cert FILE --client-key FILE   a recipient transport certificate (smoke test)
  --truststore FILE      truststore to edit, in the format its name says: .jks (JKS, written with
                         keytool; WSO2's default client-truststore.jks), .p12/.pfx (PKCS12), else a PEM
                         bundle; password from OBKIT_TRUSTSTORE_PASSWORD, default wso2carbon
  --gateway-environment NAME   gateway environment the DCR API deploys to (default Default)
  --vhost HOST           that environment's vhost the DCR API deploys to (default the gateway URL's host)
  --register URL         a sandbox Register with obkit's admin API (e.g. obkit's mock-register beside
                         WSO2) for the smoke test's SSA; its admin from OBKIT_REGISTER_ADMIN_USER and
                         OBKIT_REGISTER_ADMIN_PASSWORD (default the API manager's admin)
  --restart-command CMD  WSO2 outside Kubernetes: shell command that restarts its servers after a
                         truststore change (without it, the restart step prints what to restart)
Output:
  --json                 print the result as JSON
  -h, --help             this help`;

export type TargetFlags = { [K in keyof typeof targetOptions]?: string | boolean | undefined };

/** The state directory: `--state-dir`, else the setting every service reads (see configuredStateDir). */
export function defaultStateDir(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): string {
  return configuredStateDir(flags['state-dir'] as string | undefined, { env });
}

export function manifestPath(stateDir: string): string {
  return join(stateDir, 'environment.json');
}

export async function resolveTarget(
  flags: TargetFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Target> {
  const kind = flags.target as string | undefined;
  if (kind !== undefined && !['native', 'kubernetes', 'wso2'].includes(kind)) {
    throw new Error(`--target must be native, kubernetes or wso2 (got ${kind})`);
  }
  let manifest: EnvironmentManifest;
  if (flags.apim || flags.is || flags.gateway) {
    manifest = manifestFromFlags(flags, (kind as TargetKind | undefined) ?? 'wso2');
    manifest.stateDir = defaultStateDir(flags, env);
  } else {
    const file = resolve(
      (flags.environment as string | undefined) ?? manifestPath(defaultStateDir(flags, env)),
    );
    if (!existsSync(file)) {
      throw new Error(
        `no environment manifest at ${file}: run \`obkit up\` first, or give --environment FILE or --target wso2 --apim URL --is URL --gateway URL`,
      );
    }
    manifest = parseEnvironmentManifest(JSON.parse(await readFile(file, 'utf8')), dirname(file), file);
    if (kind) manifest.target = kind as TargetKind;
  }
  if (flags.truststore) {
    const path = resolve(flags.truststore as string);
    manifest.truststore = { path, format: truststoreFormat(path) };
  }
  applyGatewayFlags(manifest, flags);
  if (flags.register) manifest.mockRegister = { url: String(flags.register).replace(/\/+$/, '') };
  if (flags['restart-command']) manifest.restartCommand = flags['restart-command'] as string;
  if (flags['client-cert']) manifest.pki.clientCertificate = resolve(flags['client-cert'] as string);
  if (flags['client-key']) manifest.pki.clientKey = resolve(flags['client-key'] as string);
  if (flags.ca) manifest.pki.caCertificate = resolve(flags.ca as string);
  return targetFromManifest(manifest, env);
}

export function targetFromManifest(
  manifest: EnvironmentManifest,
  env: NodeJS.ProcessEnv = process.env,
): Target {
  const ca = manifest.pki.caCertificate ? readIfExists(manifest.pki.caCertificate) : undefined;
  const { clientCertificate: certFile, clientKey: keyFile } = manifest.pki;
  const clientCertificate =
    certFile && keyFile && existsSync(certFile) && existsSync(keyFile)
      ? { certificate: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
      : undefined;
  // The gateway routes by vhost: reached by another name (its in-cluster Service), it is sent the vhost.
  const gateway = new URL(manifest.gateway.url);
  const gatewayHost = manifest.gateway.vhost !== gateway.hostname ? manifest.gateway.vhost : undefined;
  const hostHeaderFor = (url: string) =>
    gatewayHost && new URL(url).origin === gateway.origin ? gatewayHost : undefined;
  return {
    manifest,
    // Read when a step needs them, so the checks that need no credential run without one.
    get admin() {
      return { username: manifest.admin.username, password: adminPassword(manifest, env) };
    },
    get identityServerAdmin() {
      return {
        username: env.OBKIT_IS_ADMIN_USER ?? manifest.admin.username,
        password: env.OBKIT_IS_ADMIN_PASSWORD ?? adminPassword(manifest, env),
      };
    },
    get registerAdmin() {
      return {
        username: env.OBKIT_REGISTER_ADMIN_USER ?? manifest.admin.username,
        password: env.OBKIT_REGISTER_ADMIN_PASSWORD ?? adminPassword(manifest, env),
      };
    },
    ca,
    clientCertificate,
    ...(manifest.truststore.format === 'pem'
      ? {}
      : { truststorePassword: env.OBKIT_TRUSTSTORE_PASSWORD ?? WSO2_DEFAULTS.truststorePassword }),
    http: (baseUrl, options = {}) => {
      const host = hostHeaderFor(baseUrl);
      return createHttpClient({
        baseUrl,
        tls: { ca, ...options.tls },
        ...(host ? { host } : {}),
        ...options,
      });
    },
    hostHeaderFor,
  };
}

function adminPassword(manifest: EnvironmentManifest, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[manifest.admin.passwordEnv] ?? env.OBKIT_ADMIN_PASSWORD;
  if (fromEnv) return fromEnv;
  const file = manifest.admin.credentialFile;
  if (file && existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { password?: string };
    if (stored.password) return stored.password;
  }
  throw new Error(
    `no admin password: set ${manifest.admin.passwordEnv}${file ? ` or create ${file}` : ''} (it is never read from flags)`,
  );
}

/** The format a truststore file's name says: `.jks` JKS, `.p12`/`.pfx` PKCS12, anything else PEM. */
export function truststoreFormat(path: string): TruststoreFormat {
  if (/\.jks$/i.test(path)) return 'jks';
  return /\.(p12|pfx)$/i.test(path) ? 'pkcs12' : 'pem';
}

/** `--vhost` and `--gateway-environment`, checked as WSO2 checks them (RFC 1123 host, environment name). */
function applyGatewayFlags(manifest: EnvironmentManifest, flags: TargetFlags): void {
  const vhost = flags.vhost as string | undefined;
  const environment = flags['gateway-environment'] as string | undefined;
  if (vhost !== undefined) {
    if (!isHostName(vhost))
      throw new Error(`--vhost must be a host name (RFC 1123), got ${JSON.stringify(vhost)}`);
    manifest.gateway.vhost = vhost;
  }
  if (environment !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(environment))
      throw new Error(
        `--gateway-environment must be letters, digits, _ or -, got ${JSON.stringify(environment)}`,
      );
    manifest.gateway.environment = environment;
  }
}

function isHostName(value: string): boolean {
  const label = '([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
  return value.length <= 255 && new RegExp(`^(${label}\\.)*${label}$`).test(value);
}

function manifestFromFlags(flags: TargetFlags, kind: TargetKind): EnvironmentManifest {
  const need = (name: 'apim' | 'is' | 'gateway') => {
    const value = flags[name] as string | undefined;
    if (!value) throw new Error(`--${name} URL is required with --target ${kind}`);
    return value.replace(/\/+$/, '');
  };
  const is = need('is');
  const gateway = need('gateway');
  const truststore = (flags.truststore as string | undefined) ?? resolve(WSO2_DEFAULTS.truststore);
  return {
    version: 1,
    target: kind,
    mode: 'production',
    gateway: { url: gateway, vhost: new URL(gateway).hostname },
    identityServer: { url: is, issuer: `${is}/oauth2/token` },
    apiManager: { url: need('apim') },
    pki: { caCertificate: flags.ca ? resolve(flags.ca as string) : '' },
    truststore: { path: resolve(truststore), format: truststoreFormat(truststore) },
    admin: {
      username: (flags['admin-user'] as string | undefined) ?? 'admin',
      passwordEnv: 'OBKIT_ADMIN_PASSWORD',
    },
  };
}

/** The manifest of a local stack started by `obkit up`. */
export function localManifest(
  config: Config,
  pki: SandboxPki,
  configFile: string | undefined,
): EnvironmentManifest {
  const ob = config.obkit;
  const { password: _password, ...admin } = ob.admin;
  const logs = join(ob.state_dir, 'logs');
  return {
    version: 1,
    target: 'native',
    mode: ob.mode,
    stateDir: ob.state_dir,
    gateway: {
      url: ob.gateway.url,
      vhost: new URL(ob.gateway.url).hostname,
      managementUrl: managementUrlOf(config, 'gateway'),
    },
    identityServer: {
      url: ob.identity_server.url,
      issuer: issuerOf(config),
      managementUrl: managementUrlOf(config, 'identity_server'),
    },
    apiManager: { url: ob.api_manager.url, managementUrl: managementUrlOf(config, 'api_manager') },
    ...(ob.mode === 'sandbox'
      ? {
          mockRegister: {
            url: ob.mock_register.url,
            managementUrl: managementUrlOf(config, 'mock_register'),
          },
          banking: { url: ob.banking.url, managementUrl: managementUrlOf(config, 'banking') },
        }
      : {}),
    pki: {
      caCertificate: pki.caBundle,
      ...(ob.mode === 'sandbox' ? { caKey: pki.issuingCaKey } : {}),
      clientCertificate: pki.clientCertificate,
      clientKey: pki.clientKey,
    },
    truststore: { format: 'pem', path: ob.tls.truststore },
    admin: {
      username: admin.username,
      ...(ob.mode === 'sandbox' ? { credentialFile: join(ob.state_dir, 'admin-credential.json') } : {}),
      passwordEnv: 'OBKIT_ADMIN_PASSWORD',
    },
    logs: Object.fromEntries(
      [
        ...(ob.database.url ? [] : ['embedded-database']),
        'mock-register',
        'identity-server',
        'api-manager',
        'gateway',
        ...(ob.mode === 'sandbox' ? ['banking'] : []),
      ].map((name) => [name, join(logs, `${name}.log`)]),
    ),
    config: {
      ...(configFile ? { file: resolve(configFile) } : {}),
      effective: {
        ...config,
        obkit: {
          ...ob,
          admin,
          dcr_backend: { username: ob.dcr_backend.username },
          database: { ...ob.database, url: ob.database.url ? '(set)' : '' },
        },
      },
    },
  };
}

/** Writes the manifest atomically (a reader never sees half a file). */
export async function writeManifest(path: string, manifest: EnvironmentManifest): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  await rename(temporary, path);
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
