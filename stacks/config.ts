import * as pulumi from '@pulumi/pulumi';

/**
 * The stack's configuration, read once and validated here (keys and defaults are declared in
 * Pulumi.yaml; docs/pulumi.md documents each). Secrets are read with getSecret/requireSecret so they stay
 * Outputs marked secret all the way into Kubernetes Secrets and never reach plain state.
 */

export type Environment = 'sandbox' | 'production';
export type DatabaseMode = 'cloudnative-pg' | 'external';

export interface SuppliedPkiConfig {
  /** CDR root and issuing CA certificates (PEM): trusted for recipients' transport certificates. */
  caCertificates: string;
  /** Server certificate chain (PEM) covering the public host name and the in-cluster Service names. */
  serverCertificate: string;
  serverPrivateKey: pulumi.Output<string>;
  /** CA certificates clients use to verify the server (PEM); defaults to caCertificates. */
  serverCaCertificates: string;
  /** Optional transport certificate for the smoke test's recipient (issued under the CDR CA). */
  smokeClientCertificate?: string;
  smokeClientPrivateKey?: pulumi.Output<string>;
}

export interface StackConfig {
  environment: Environment;
  namespace: string;
  hostname: string;
  image: { repository: string; tag: string; digest: string };
  replicas: { gateway: number; gatewayMax: number; identityServer: number; apiManager: number };
  gatewayServiceType: 'LoadBalancer' | 'NodePort' | 'ClusterIP';
  /** Fixed node port of the gateway Service (NodePort/LoadBalancer); 0 = allocated by the cluster. */
  gatewayNodePort: number;
  /** The cluster the stack deploys to: never whatever kubectl context happens to be current in production. */
  kubernetes: { context?: string; kubeconfig?: pulumi.Output<string> };
  /** CA certificates (PEM) trusted for recipients in addition to the environment's own. */
  extraCaCertificates: string;
  admin: { username: string; password?: pulumi.Output<string> };
  /** Base64 of 32 bytes encrypting secrets at rest; generated in sandbox when absent. */
  encryptionKey?: pulumi.Output<string>;
  /** The gateway's own DCR backend password; generated in sandbox when absent. */
  dcrBackend: { password?: pulumi.Output<string> };
  database: {
    mode: DatabaseMode;
    url?: pulumi.Output<string>;
    instances: number;
    storageSize: string;
    storageClass: string;
    postgresImage: string;
    operatorChartVersion: string;
    installOperator: boolean;
  };
  /** Production only: the supplied CDR PKI. Sandbox generates its own. */
  pki?: SuppliedPkiConfig;
  jwksUrlProduction: string;
  extraToml: string;
  verification: { enabled: boolean; revision: number; backoffLimit: number; timeoutSeconds: number };
}

/** A configuration mistake, named by its key so `pulumi up` says what to fix. */
export class StackConfigError extends pulumi.RunError {
  constructor(key: string, problem: string) {
    super(`obkit:${key}: ${problem} (see docs/pulumi.md)`);
  }
}

function oneOf<T extends string>(config: pulumi.Config, key: string, allowed: readonly T[], fallback?: T): T {
  const value = config.get(key) ?? fallback;
  if (value === undefined) throw new StackConfigError(key, `required, one of ${allowed.join(', ')}`);
  if (!allowed.includes(value as T)) throw new StackConfigError(key, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

function positiveInteger(config: pulumi.Config, key: string, fallback: number, min = 1): number {
  const value = config.getNumber(key) ?? fallback;
  if (!Number.isInteger(value) || value < min) throw new StackConfigError(key, `must be an integer ≥ ${min}`);
  return value;
}

function pem(config: pulumi.Config, key: string, marker: string): string {
  const value = config.require(key);
  if (!value.includes(`-----BEGIN ${marker}-----`))
    throw new StackConfigError(key, `must be PEM (${marker})`);
  return value;
}

export function loadStackConfig(config = new pulumi.Config('obkit')): StackConfig {
  const environment = oneOf(config, 'environment', ['sandbox', 'production'] as const);
  const production = environment === 'production';

  const replicas = {
    gateway: positiveInteger(config, 'gatewayReplicas', 2),
    gatewayMax: positiveInteger(config, 'gatewayMaxReplicas', 0, 0),
    identityServer: positiveInteger(config, 'identityServerReplicas', 1),
    apiManager: positiveInteger(config, 'apiManagerReplicas', 1),
  };
  if (production && replicas.gateway < 2) {
    throw new StackConfigError('gatewayReplicas', 'production runs at least 2 gateway replicas');
  }
  if (replicas.gatewayMax !== 0 && replicas.gatewayMax < replicas.gateway) {
    throw new StackConfigError('gatewayMaxReplicas', 'must be 0 (no autoscaling) or ≥ gatewayReplicas');
  }

  const imageTag = config.get('imageTag') ?? '0.1.0';
  if (imageTag === '' || imageTag === 'latest') {
    throw new StackConfigError('imageTag', 'must be a fixed version: deployments must be reproducible');
  }

  const kubeContext = config.get('kubeContext');
  const kubeconfig = config.getSecret('kubeconfig');
  if (production && !kubeContext) {
    throw new StackConfigError(
      'kubeContext',
      'required in production, so `pulumi up` never deploys to whatever kubectl context is current (pulumi config set kubeContext NAME)',
    );
  }
  const gatewayNodePort = positiveInteger(config, 'gatewayNodePort', 0, 0);
  if (gatewayNodePort !== 0 && (gatewayNodePort < 30000 || gatewayNodePort > 32767)) {
    throw new StackConfigError(
      'gatewayNodePort',
      'must be 0 (allocated) or in the node port range 30000-32767',
    );
  }
  const extraCaCertificates = config.get('extraCaCertificates') ?? '';
  if (extraCaCertificates && !extraCaCertificates.includes('-----BEGIN CERTIFICATE-----')) {
    throw new StackConfigError('extraCaCertificates', 'must be PEM (CERTIFICATE)');
  }

  const databaseMode = oneOf(config, 'database', ['cloudnative-pg', 'external'] as const, 'cloudnative-pg');
  const adminPassword = config.getSecret('adminPassword');
  if (production && !adminPassword) {
    throw new StackConfigError(
      'adminPassword',
      'required in production (pulumi config set --secret adminPassword)',
    );
  }

  const encryptionKey = config.getSecret('encryptionKey');
  if (production && !encryptionKey) {
    throw new StackConfigError(
      'encryptionKey',
      'required in production: the key encrypting secrets at rest (pulumi config set --secret encryptionKey "$(openssl rand -base64 32)")',
    );
  }
  const dcrBackendPassword = config.getSecret('dcrBackendPassword');
  if (production && !dcrBackendPassword) {
    throw new StackConfigError(
      'dcrBackendPassword',
      "required in production: the gateway's own credential for the DCR backend (pulumi config set --secret dcrBackendPassword)",
    );
  }

  return {
    environment,
    namespace: config.get('namespace') ?? 'obkit',
    hostname: config.require('hostname'),
    image: {
      repository: config.get('imageRepository') ?? 'ghcr.io/obkit/obkit',
      tag: imageTag,
      digest: config.get('imageDigest') ?? '',
    },
    replicas,
    gatewayServiceType: oneOf(
      config,
      'gatewayServiceType',
      ['LoadBalancer', 'NodePort', 'ClusterIP'] as const,
      'LoadBalancer',
    ),
    gatewayNodePort,
    kubernetes: {
      ...(kubeContext ? { context: kubeContext } : {}),
      ...(kubeconfig ? { kubeconfig } : {}),
    },
    extraCaCertificates,
    admin: {
      username: config.get('adminUsername') ?? 'admin',
      ...(adminPassword ? { password: adminPassword } : {}),
    },
    ...(encryptionKey ? { encryptionKey } : {}),
    dcrBackend: dcrBackendPassword ? { password: dcrBackendPassword } : {},
    database: {
      mode: databaseMode,
      ...(databaseMode === 'external' ? { url: config.requireSecret('databaseUrl') } : {}),
      instances: positiveInteger(config, 'postgresInstances', 1),
      storageSize: config.get('postgresStorageSize') ?? '10Gi',
      storageClass: config.get('postgresStorageClass') ?? '',
      postgresImage: config.get('postgresImage') ?? 'ghcr.io/cloudnative-pg/postgresql:17.5',
      operatorChartVersion: config.get('cnpgChartVersion') ?? '0.26.0',
      installOperator: config.getBoolean('cnpgInstallOperator') ?? true,
    },
    ...(production ? { pki: loadSuppliedPki(config) } : {}),
    jwksUrlProduction: config.get('jwksUrlProduction') ?? 'https://api.cdr.gov.au/cdr-register/v1/jwks',
    extraToml: config.get('extraToml') ?? '',
    verification: {
      enabled: config.getBoolean('verification') ?? true,
      revision: positiveInteger(config, 'verificationRevision', 1),
      backoffLimit: positiveInteger(config, 'verificationBackoffLimit', 1, 0),
      timeoutSeconds: positiveInteger(config, 'verificationTimeoutSeconds', 600),
    },
  };
}

function loadSuppliedPki(config: pulumi.Config): SuppliedPkiConfig {
  const caCertificates = pem(config, 'caCertificates', 'CERTIFICATE');
  const smokeClientCertificate = config.get('smokeClientCertificate');
  const smokeClientPrivateKey = config.getSecret('smokeClientPrivateKey');
  if (Boolean(smokeClientCertificate) !== Boolean(smokeClientPrivateKey)) {
    throw new StackConfigError(
      'smokeClientPrivateKey',
      'set both smokeClientCertificate and smokeClientPrivateKey, or neither',
    );
  }
  return {
    caCertificates,
    serverCertificate: pem(config, 'serverCertificate', 'CERTIFICATE'),
    serverPrivateKey: config.requireSecret('serverPrivateKey'),
    serverCaCertificates: config.get('serverCaCertificates') ?? caCertificates,
    ...(smokeClientCertificate && smokeClientPrivateKey
      ? { smokeClientCertificate, smokeClientPrivateKey }
      : {}),
  };
}
