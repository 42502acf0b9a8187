import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { COMPONENTS } from '../lib/config/components.ts';
import { obkitChartValues } from './chart-values.ts';
import { AdminCredential } from './components/admin-credential.ts';
import { DcrBackendCredential } from './components/dcr-backend-credential.ts';
import { EncryptionKey } from './components/encryption-key.ts';
import { Namespace } from './components/namespace.ts';
import { Obkit } from './components/obkit.ts';
import type { PkiSecrets } from './components/pki-resources.ts';
import { Postgres } from './components/postgres.ts';
import { SandboxPki } from './components/sandbox-pki.ts';
import { SuppliedPki } from './components/supplied-pki.ts';
import { Verification } from './components/verification.ts';
import { loadStackConfig } from './config.ts';
import { environmentManifest } from './environment.ts';

// The obkit stack: config → namespace → PKI, database, admin credential, encryption key → the chart →
// verification Jobs.

const config = loadStackConfig();
const sandbox = config.environment === 'sandbox';

// Every Kubernetes object goes through this provider, on the cluster the stack config names (the stack
// files also disable the default provider, so nothing can fall back to the current kubectl context).
const kubernetes = new k8s.Provider('kubernetes', {
  ...(config.kubernetes.context ? { context: config.kubernetes.context } : {}),
  ...(config.kubernetes.kubeconfig ? { kubeconfig: config.kubernetes.kubeconfig } : {}),
});
const opts = { providers: [kubernetes] };

const namespace = new Namespace('obkit', { name: config.namespace, environment: config.environment }, opts);

const pki: PkiSecrets = sandbox
  ? new SandboxPki(
      'pki',
      {
        namespace: namespace.name,
        namespaceName: config.namespace,
        hostname: config.hostname,
        extraCaCertificates: config.extraCaCertificates,
      },
      opts,
    )
  : new SuppliedPki(
      'pki',
      { namespace: namespace.name, pki: config.pki!, extraCaCertificates: config.extraCaCertificates },
      opts,
    );

const database = new Postgres(
  'database',
  {
    namespace: namespace.name,
    namespaceName: config.namespace,
    database: config.database,
  },
  opts,
);

const admin = new AdminCredential(
  'admin',
  {
    namespace: namespace.name,
    username: config.admin.username,
    ...(config.admin.password ? { password: config.admin.password } : {}),
  },
  opts,
);

const encryption = new EncryptionKey(
  'encryption',
  { namespace: namespace.name, ...(config.encryptionKey ? { key: config.encryptionKey } : {}) },
  opts,
);

const dcrBackend = new DcrBackendCredential(
  'dcr-backend',
  {
    namespace: namespace.name,
    ...(config.dcrBackend.password ? { password: config.dcrBackend.password } : {}),
  },
  opts,
);

const obkit = new Obkit(
  'obkit',
  {
    namespace: namespace.name,
    values: obkitChartValues(config, {
      serverTls: pki.serverTls,
      truststore: pki.truststore,
      internalCa: pki.internalCa,
      gatewayInternalClient: pki.gatewayInternalClient,
      ...(pki.bankingInternalClient ? { bankingInternalClient: pki.bankingInternalClient } : {}),
      ...(sandbox ? { outboundCa: pki.serverCa } : {}),
      serverCa: pki.serverCa,
      ...(pki.smokeClient ? { smokeClient: pki.smokeClient } : {}),
      admin: admin.secretName,
      encryption: encryption.secretName,
      dcrBackend: dcrBackend.secretName,
      database: database.secretName,
      truststoreChecksum: pki.truststoreChecksum,
    }),
  },
  opts,
);

const manifest = environmentManifest({
  mode: config.environment,
  namespace: config.namespace,
  hostname: config.hostname,
  gatewayPort: COMPONENTS.gateway.port,
  smokeClient: pki.smokeClient !== undefined,
});

const image = config.image.digest
  ? `${config.image.repository}@${config.image.digest}`
  : `${config.image.repository}:${config.image.tag}`;

const verification = config.verification.enabled
  ? new Verification(
      'verification',
      {
        namespace: namespace.name,
        image,
        manifest,
        secrets: {
          admin: admin.secretName,
          serverCa: pki.serverCa,
          truststore: pki.truststore,
          ...(pki.smokeClient ? { smokeClient: pki.smokeClient } : {}),
        },
        after: [obkit],
        revision: config.verification.revision,
        backoffLimit: config.verification.backoffLimit,
        timeoutSeconds: config.verification.timeoutSeconds,
      },
      opts,
    )
  : undefined;

export const gatewayEndpoint = manifest.publicGatewayUrl;
export const caBundle = pki.caBundle;
export const adminUsername = admin.username;
export const adminPassword = pulumi.secret(admin.password);
export const environment = manifest;
export const verificationJobs = verification
  ? { configure: verification.configureJob, smoke: verification.smokeJob }
  : 'disabled (obkit:verification is false)';
