import type { ComponentKey } from '../lib/config/components.ts';
import { type ClusterManifest, clusterManifestSchema } from '../lib/config/environment-manifest.ts';
import type { Environment } from './config.ts';
import { inClusterUrl, SECRETS, serviceName } from './names.ts';

/**
 * The cluster manifest the post-deploy Jobs read (`obkit configure|smoke --environment FILE`) and the
 * stack exports, in the shape lib/config/environment-manifest.ts defines (the chart writes the same).
 */
export type { ClusterManifest } from '../lib/config/environment-manifest.ts';

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

/** Checked against the schema the Jobs read it with, so the stack never exports one they refuse. */
export function environmentManifest(args: ManifestArgs): ClusterManifest {
  const components: ComponentKey[] = ['identityServer', 'apiManager', 'gateway'];
  // Sandbox only: the mock Register and the banking data API (which refuses production mode).
  if (args.mode === 'sandbox') components.push('mockRegister', 'banking');
  return clusterManifestSchema.parse({
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
  });
}
