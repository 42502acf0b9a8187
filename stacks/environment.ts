import type { Environment } from './config.ts';
import { type ComponentKey, inClusterUrl, SECRETS, serviceName } from './names.ts';

/**
 * The environment manifest the post-deploy Jobs read (`obkit configure|smoke --environment FILE`) and
 * the stack exports: where each service is, which files hold the CAs and the smoke test's transport
 * certificate, and which environment variables carry the admin credential. It never holds a secret
 * value: credentials reach the Jobs as Secret references only.
 */
export interface EnvironmentManifest {
  name: string;
  mode: Environment;
  namespace: string;
  services: Partial<Record<ComponentKey, { url: string }>>;
  /** The gateway as recipients reach it from outside the cluster. */
  publicGatewayUrl: string;
  tls: {
    /** CAs the servers' certificates chain to. */
    caBundle: string;
    /** CDR CAs to load into the truststores (the "import the CA certificates" step). */
    truststore: string;
    clientCertificate?: string;
    clientKey?: string;
  };
  admin: { usernameEnv: string; passwordEnv: string };
  /** The release's Deployments and truststore Secret, so scripts never guess names. */
  kubernetes: { deployments: string[]; truststoreSecret: string };
}

/** Where the Jobs mount what the manifest points at. */
export const MOUNTS = {
  environment: '/etc/obkit/environment',
  serverCa: '/etc/obkit/server-ca',
  truststore: '/etc/obkit/truststore',
  smokeClient: '/etc/obkit/smoke-client',
} as const;

export const ENVIRONMENT_FILE = `${MOUNTS.environment}/environment.json`;

export interface ManifestArgs {
  mode: Environment;
  namespace: string;
  hostname: string;
  gatewayPort: number;
  smokeClient: boolean;
}

export function environmentManifest(args: ManifestArgs): EnvironmentManifest {
  const components: ComponentKey[] = ['identityServer', 'apiManager', 'gateway'];
  // Sandbox only: the mock Register and the banking data API (which refuses production mode).
  if (args.mode === 'sandbox') components.push('mockRegister', 'banking');
  return {
    name: `obkit-${args.mode}`,
    mode: args.mode,
    namespace: args.namespace,
    services: Object.fromEntries(components.map((key) => [key, { url: inClusterUrl(key) }])),
    publicGatewayUrl: `https://${args.hostname}:${args.gatewayPort}`,
    tls: {
      caBundle: `${MOUNTS.serverCa}/ca.crt`,
      truststore: `${MOUNTS.truststore}/ca-bundle.pem`,
      ...(args.smokeClient
        ? { clientCertificate: `${MOUNTS.smokeClient}/tls.crt`, clientKey: `${MOUNTS.smokeClient}/tls.key` }
        : {}),
    },
    admin: { usernameEnv: 'OBKIT__OBKIT__ADMIN__USERNAME', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
    kubernetes: { deployments: components.map(serviceName), truststoreSecret: SECRETS.truststore },
  };
}
