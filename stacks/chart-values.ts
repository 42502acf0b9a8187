import type * as pulumi from '@pulumi/pulumi';
import { COMPONENTS } from '../lib/config/components.ts';
import type { StackConfig } from './config.ts';
import { FULLNAME, serviceName } from './names.ts';

/** Secret names the chart mounts (charts/obkit/values.yaml, section "Secrets"). */
export interface ChartSecretNames {
  serverTls: pulumi.Input<string>;
  truststore: pulumi.Input<string>;
  internalCa: pulumi.Input<string>;
  gatewayInternalClient: pulumi.Input<string>;
  /** The banking service's internal client certificate (sandbox only, like the service). */
  bankingInternalClient?: pulumi.Input<string>;
  /** CAs trusted for outbound HTTPS; sandbox: the sandbox CA, so the services trust the in-cluster mock-register. */
  outboundCa?: pulumi.Input<string>;
  /** CAs clients verify the servers with (the chart's verification pods and monitors). */
  serverCa: pulumi.Input<string>;
  smokeClient?: pulumi.Input<string>;
  admin: pulumi.Input<string>;
  encryption: pulumi.Input<string>;
  /** The gateway's own DCR backend credential (identity-server's env, the gateway's vault). */
  dcrBackend: pulumi.Input<string>;
  database: pulumi.Input<string>;
  /** sha256 of the truststore bundle: a pod annotation, so a changed truststore rolls the pods. */
  truststoreChecksum: pulumi.Input<string>;
}

/** Labels of the post-deploy Job pods, admitted by the chart's NetworkPolicies to the internal ports. */
export const JOB_COMPONENTS = ['configure', 'smoke', 'verification'] as const;

/** The WSO2 [open_banking...] TOML for the environment; the chart owns the [obkit...] tables. */
export function dcrToml(config: StackConfig): string {
  const production = config.environment === 'production';
  const jwks = production
    ? `jwks_url_production = ${JSON.stringify(config.jwksUrlProduction)}`
    : `jwks_url_sandbox = ${JSON.stringify(`https://${serviceName('mockRegister')}:${COMPONENTS.mockRegister.port}/cdr-register/v1/jwks`)}`;
  const validation = String(production);
  const generated = [
    '[open_banking.dcr]',
    jwks,
    '',
    '[open_banking_cds.dcr]',
    `enable_uri_validation = ${validation}`,
    `enable_hostname_validation = ${validation}`,
    `enable_sector_identifier_uri_validation = ${validation}`,
  ].join('\n');
  return config.extraToml.trim() === '' ? `${generated}\n` : `${generated}\n\n${config.extraToml.trim()}\n`;
}

/**
 * Values for charts/obkit built from the stack config: every credential and certificate is a Secret
 * name, never a value, so the chart resource's inputs in state hold nothing secret.
 */
export function obkitChartValues(config: StackConfig, secrets: ChartSecretNames): Record<string, unknown> {
  const sandbox = config.environment === 'sandbox';
  const autoscaling = config.replicas.gatewayMax > 0;
  const podAnnotations = { 'checksum/truststore': secrets.truststoreChecksum };
  return {
    fullnameOverride: FULLNAME,
    global: { mode: config.environment, hostname: config.hostname },
    image: { repository: config.image.repository, tag: config.image.tag, digest: config.image.digest },
    tls: {
      serverSecret: secrets.serverTls,
      truststoreSecret: secrets.truststore,
      internalCaSecret: secrets.internalCa,
      gatewayInternalClientSecret: secrets.gatewayInternalClient,
      bankingInternalClientSecret: secrets.bankingInternalClient ?? '',
      outboundCaSecret: secrets.outboundCa ?? '',
    },
    admin: { existingSecret: secrets.admin },
    encryption: { existingSecret: secrets.encryption },
    dcrBackend: { existingSecret: secrets.dcrBackend },
    database: { existingSecret: secrets.database },
    config: { allowPrivateAddresses: sandbox, toml: dcrToml(config) },
    networkPolicy: { enabled: true, jobComponents: [...JOB_COMPONENTS] },
    // The stack runs configure and smoke as Jobs of its own (Pulumi skips Helm hooks); `helm test` stays
    // available to Helm users of the same release.
    verification: {
      serverCaSecret: secrets.serverCa,
      smokeClientSecret: secrets.smokeClient ?? '',
      configureHook: { enabled: false },
    },
    identityServer: { replicaCount: config.replicas.identityServer, podAnnotations },
    apiManager: { replicaCount: config.replicas.apiManager, podAnnotations },
    gateway: {
      replicaCount: config.replicas.gateway,
      podAnnotations,
      service: {
        type: config.gatewayServiceType,
        ...(config.gatewayNodePort && config.gatewayServiceType !== 'ClusterIP'
          ? { nodePort: config.gatewayNodePort }
          : {}),
      },
      autoscaling: autoscaling
        ? { enabled: true, minReplicas: config.replicas.gateway, maxReplicas: config.replicas.gatewayMax }
        : { enabled: false },
    },
    mockRegister: { enabled: sandbox, podAnnotations },
    // The CDS Banking data API refuses production mode; the chart refuses it there too.
    banking: { enabled: sandbox, podAnnotations },
  };
}
