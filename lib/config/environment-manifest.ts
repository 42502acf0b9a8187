import { z } from 'zod';

/**
 * The environment manifest, defined once. Two shapes exist on disk and both are read here:
 *
 * - the **cluster manifest** the Pulumi stack and the Helm chart write for their Jobs
 *   (`services.<component>.url`, `tls.*`, the variables holding the admin credential, the release's names);
 * - the **environment manifest** `obkit up` writes to `<state-dir>/environment.json`, the shape the
 *   scripts work with. A cluster manifest is read into it by `parseEnvironmentManifest`.
 *
 * Neither ever holds a secret value: they name where the admin credential is, never the credential.
 */

const url = z.string().min(1);
const service = z.object({ url });
const managed = z.object({ url, managementUrl: z.string().optional() });

export const clusterManifestSchema = z.object({
  name: z.string().optional(),
  mode: z.enum(['sandbox', 'production']),
  namespace: z.string().min(1),
  services: z.object({
    identityServer: service,
    apiManager: service,
    gateway: service,
    /** Sandbox only: the mock Register and the banking data API (which refuses production mode). */
    mockRegister: service.optional(),
    banking: service.optional(),
  }),
  /** The gateway as recipients reach it from outside the cluster. */
  publicGatewayUrl: url.optional(),
  tls: z.object({
    /** CAs the servers' certificates chain to. */
    caBundle: z.string().min(1),
    /** CDR CAs to load into the truststores (the "import the CA certificates" step). */
    truststore: z.string().min(1),
    clientCertificate: z.string().optional(),
    clientKey: z.string().optional(),
  }),
  admin: z.object({ usernameEnv: z.string().min(1), passwordEnv: z.string().min(1) }),
  /** The release's Deployments and truststore Secret, so scripts never guess names. */
  kubernetes: z
    .object({ deployments: z.array(z.string()), truststoreSecret: z.string().optional() })
    .optional(),
});

export type ClusterManifest = z.infer<typeof clusterManifestSchema>;

export const environmentManifestSchema = z.object({
  version: z.literal(1),
  target: z.enum(['native', 'kubernetes', 'wso2']),
  mode: z.enum(['sandbox', 'production']),
  /**
   * `obkit up` only: `starting` while it starts and configures the stack, `ready` once every configure
   * step and the smoke test have passed, `stopped` once it has ended. Automation waits for `ready`.
   */
  status: z.enum(['starting', 'ready', 'stopped']).optional(),
  stateDir: z.string().optional(),
  /**
   * `environment`: the API manager's gateway environment the APIs deploy to (default `Default`).
   * `managementUrl` (obkit): where the service serves `/health/*` and `/metrics` (not on `url`).
   */
  gateway: managed.extend({ vhost: z.string(), environment: z.string().optional() }),
  identityServer: managed.extend({ issuer: z.string() }),
  apiManager: managed,
  /** A sandbox Register with obkit's admin API: obkit's own, or one run beside WSO2 (`--register`). */
  mockRegister: managed.optional(),
  /** obkit's sandbox CDS Banking service (services/banking), the backend of the banking API. */
  banking: managed.optional(),
  pki: z.object({
    /** CAs the services' server certificates chain to (and the sandbox recipients' CA). */
    caCertificate: z.string(),
    /** Sandbox only: the issuing CA's key, for `obkit pki issue-client`. */
    caKey: z.string().optional(),
    clientCertificate: z.string().optional(),
    clientKey: z.string().optional(),
  }),
  /** The truststore of recipients' CAs that the gateway and identity server share. */
  truststore: z.object({ format: z.enum(['pem', 'pkcs12', 'jks']), path: z.string() }),
  admin: z.object({
    username: z.string(),
    credentialFile: z.string().optional(),
    passwordEnv: z.string(),
  }),
  /** On Kubernetes: the release's Deployments (restart) and the Secret holding the truststore. */
  kubernetes: z
    .object({
      namespace: z.string(),
      deployments: z.array(z.string()),
      truststoreSecret: z.string().optional(),
    })
    .optional(),
  /** WSO2 outside Kubernetes: a shell command that restarts its servers after a truststore change. */
  restartCommand: z.string().optional(),
  logs: z.record(z.string(), z.string()).optional(),
  /** The configuration in force (TOML file and effective values), without a password. */
  config: z.object({ file: z.string().optional(), effective: z.unknown() }).optional(),
  /** Files `obkit up` prepared for trying the stack by hand. */
  demo: z.record(z.string(), z.string()).optional(),
});

/** `<state-dir>/environment.json`, as `obkit up` writes it and the scripts use it. */
export type EnvironmentManifest = z.infer<typeof environmentManifestSchema>;
export type TargetKind = EnvironmentManifest['target'];
export type TruststoreFormat = EnvironmentManifest['truststore']['format'];

export class InvalidManifestError extends Error {
  constructor(source: string, issues: readonly z.core.$ZodIssue[]) {
    const fields = issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    super(`environment manifest ${source}: ${fields.join('; ')}`);
    this.name = 'InvalidManifestError';
  }
}

function validated<T>(schema: z.ZodType<T>, raw: unknown, source: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) throw new InvalidManifestError(source, result.error.issues);
  return result.data;
}

/**
 * Reads a manifest in `obkit up`'s shape or in the cluster shape (which the in-cluster Jobs mount),
 * validated field by field: a bad one is refused with the field it got wrong. `source` names it in errors.
 */
export function parseEnvironmentManifest(
  raw: unknown,
  baseDir: string,
  source = '(given)',
  env: NodeJS.ProcessEnv = process.env,
): EnvironmentManifest {
  if (typeof raw === 'object' && raw !== null && 'services' in raw) {
    return fromClusterManifest(validated(clusterManifestSchema, raw, source), env);
  }
  const manifest = validated(environmentManifestSchema, raw, source);
  manifest.stateDir ??= baseDir;
  return manifest;
}

function fromClusterManifest(stack: ClusterManifest, env: NodeJS.ProcessEnv): EnvironmentManifest {
  const { services, tls } = stack;
  const identityServerUrl = services.identityServer.url;
  return {
    version: 1,
    target: 'kubernetes',
    mode: stack.mode,
    gateway: {
      url: services.gateway.url,
      vhost: new URL(stack.publicGatewayUrl ?? services.gateway.url).hostname,
    },
    identityServer: { url: identityServerUrl, issuer: `${identityServerUrl}/oauth2/token` },
    apiManager: { url: services.apiManager.url },
    ...(services.mockRegister ? { mockRegister: { url: services.mockRegister.url } } : {}),
    ...(services.banking ? { banking: { url: services.banking.url } } : {}),
    pki: {
      caCertificate: tls.caBundle,
      ...(tls.clientCertificate ? { clientCertificate: tls.clientCertificate } : {}),
      ...(tls.clientKey ? { clientKey: tls.clientKey } : {}),
    },
    truststore: { format: 'pem', path: tls.truststore },
    admin: { username: env[stack.admin.usernameEnv] ?? 'admin', passwordEnv: stack.admin.passwordEnv },
    // The release's own names (the chart and the stack write them), never a guess at them.
    ...(stack.kubernetes ? { kubernetes: { namespace: stack.namespace, ...stack.kubernetes } } : {}),
  };
}
