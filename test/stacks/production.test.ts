import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterManifestSchema } from '../../lib/config/environment-manifest.ts';
import { runPolicies } from '../support/policies.ts';
import { suppliedCaPem } from '../support/policy-fixtures.ts';
import {
  isSecretAt,
  isSecretOutput,
  ofType,
  one,
  policyResources,
  renderStackChart,
  resolve,
  runStack,
  type StackRun,
  secretNamed,
  stackFileConfig,
} from '../support/stack.ts';

// The program under mocks with Pulumi.production.yaml plus the secrets an operator sets: supplied PKI,
// supplied admin password, external PostgreSQL, an autoscaled gateway.

const ADMIN_PASSWORD = 'production-admin-password-7c1e';
const DCR_BACKEND_PASSWORD = 'production-dcr-backend-password-4f2a';
const DATABASE_PASSWORD = 'db-password-91ab';
const DATABASE_URL = `postgres://obkit:${DATABASE_PASSWORD}@db.internal.bank.example:5432/obkit?sslmode=verify-full`;
const SERVER_KEY = '-----BEGIN PRIVATE KEY-----\nproduction-server-key\n-----END PRIVATE KEY-----\n';
const ENCRYPTION_KEY = Buffer.from('production-encryption-key-32-byt').toString('base64');
const SECRET_VALUES = [
  ADMIN_PASSWORD,
  DCR_BACKEND_PASSWORD,
  DATABASE_PASSWORD,
  'production-server-key',
  ENCRYPTION_KEY,
];

let run: StackRun;

beforeAll(async () => {
  const ca = await suppliedCaPem();
  run = await runStack(
    'production',
    {
      ...(await stackFileConfig('production')),
      'obkit:databaseUrl': DATABASE_URL,
      'obkit:adminPassword': ADMIN_PASSWORD,
      'obkit:encryptionKey': ENCRYPTION_KEY,
      'obkit:dcrBackendPassword': DCR_BACKEND_PASSWORD,
      'obkit:caCertificates': ca,
      'obkit:serverCertificate': ca,
      'obkit:serverPrivateKey': SERVER_KEY,
    },
    [
      'obkit:databaseUrl',
      'obkit:adminPassword',
      'obkit:encryptionKey',
      'obkit:dcrBackendPassword',
      'obkit:serverPrivateKey',
    ],
  );
});

describe('production stack: resources', () => {
  it('registers one component per deployable unit and their Kubernetes objects', () => {
    expect(run.resources.length).toBeGreaterThan(20);
    const types = new Set(run.resources.map((resource) => resource.type));
    for (const type of [
      'obkit:k8s:Namespace',
      'obkit:pki:SuppliedPki',
      'obkit:pki:InternalPki',
      'obkit:db:Postgres',
      'obkit:k8s:AdminCredential',
      'obkit:k8s:EncryptionKey',
      'obkit:k8s:DcrBackendCredential',
      'obkit:k8s:Obkit',
      'obkit:k8s:Verification',
      'kubernetes:core/v1:Namespace',
      'kubernetes:helm.sh/v4:Chart',
      'kubernetes:batch/v1:Job',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it('generates nothing it should be given: no sandbox PKI, no random password or key, no CloudNativePG', () => {
    const types = run.resources.map((resource) => resource.type);
    expect(types).not.toContain('obkit:pki:SandboxPki');
    expect(types).not.toContain('random:index/randomPassword:RandomPassword');
    expect(types).not.toContain('random:index/randomBytes:RandomBytes');
    expect(types).not.toContain('kubernetes:postgresql.cnpg.io/v1:Cluster');
    expect(ofType(run, 'kubernetes:helm.sh/v4:Chart')).toHaveLength(1);
  });

  it('creates every child with its component as parent', () => {
    const component = one(run, 'obkit:k8s:AdminCredential', 'admin');
    expect(secretNamed(run, 'obkit-admin').parent).toBe(component.urn);
    expect(one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').parent).toBe(
      one(run, 'obkit:k8s:Obkit', 'obkit').urn,
    );
  });

  it('puts the supplied PKI into Secrets labelled as supplied', () => {
    for (const name of ['obkit-server-tls', 'obkit-truststore', 'obkit-server-ca']) {
      expect(secretNamed(run, name).inputs.metadata.labels['pki.obkit.io/origin']).toBe('supplied');
    }
    expect(secretNamed(run, 'obkit-server-tls').inputs.type).toBe('kubernetes.io/tls');
    expect(secretNamed(run, 'obkit-internal-ca').inputs.metadata.labels['pki.obkit.io/origin']).toBe(
      'internal',
    );
  });
});

describe('production stack: the chart', () => {
  it('installs charts/obkit from this repository with production values', () => {
    const chart = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit');
    expect(chart.inputs.chart).toMatch(/\/charts\/obkit$/);
    expect(existsSync(`${chart.inputs.chart}/Chart.yaml`)).toBe(true);
    const { values } = chart.inputs;
    expect(values.global).toEqual({ mode: 'production', hostname: 'cdr.bank.example' });
    expect(values.mockRegister).toMatchObject({ enabled: false });
    expect(values.banking).toMatchObject({ enabled: false });
    expect(values.config.allowPrivateAddresses).toBe(false);
    expect(values.config.toml).toContain(
      'jwks_url_production = "https://api.cdr.gov.au/cdr-register/v1/jwks"',
    );
    expect(values.gateway.replicaCount).toBe(3);
    expect(values.gateway.autoscaling).toEqual({ enabled: true, minReplicas: 3, maxReplicas: 12 });
    expect(values.identityServer.replicaCount).toBe(2);
  });

  it('references every credential and certificate by the name of a Secret the stack created', () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    const references = [
      values.tls.serverSecret,
      values.tls.truststoreSecret,
      values.tls.internalCaSecret,
      values.tls.gatewayInternalClientSecret,
      values.admin.existingSecret,
      values.encryption.existingSecret,
      values.dcrBackend.existingSecret,
      values.database.existingSecret,
    ];
    expect(references).toEqual([
      'obkit-server-tls',
      'obkit-truststore',
      'obkit-internal-ca',
      'obkit-gateway-internal-client',
      'obkit-admin',
      'obkit-encryption',
      'obkit-dcr-backend',
      'obkit-database',
    ]);
    for (const name of references) expect(() => secretNamed(run, name)).not.toThrow();
    expect(values.tls.outboundCaSecret).toBe('');
  });

  it('issues no banking client certificate: the banking data API is sandbox-only', async () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    expect(values.tls.bankingInternalClientSecret).toBe('');
    expect(() => secretNamed(run, 'obkit-banking-internal-client')).toThrow();
    expect(() => secretNamed(run, 'obkit-gateway-internal-client')).not.toThrow();
    const certificates = ofType(run, 'tls:index/locallySignedCert:LocallySignedCert').map((c) => c.name);
    expect(certificates).toContain('pki-internal-gateway-client');
    expect(certificates).not.toContain('pki-internal-banking-client');
    expect((await resolve(run.outputs.environment)).services.banking).toBeUndefined();
  });
});

describe("production stack: the gateway's own DCR backend credential", () => {
  it('keeps the supplied password, and the Authorization value the gateway mounts, in one Secret', async () => {
    const secret = secretNamed(run, 'obkit-dcr-backend');
    expect(secret.parent).toBe(one(run, 'obkit:k8s:DcrBackendCredential', 'dcr-backend').urn);
    const data = secret.inputs.stringData;
    expect(data.username).toBe('obkit-gateway');
    expect(await resolve(data.password)).toBe(DCR_BACKEND_PASSWORD);
    expect(await resolve(data['obkit.dcr.backend.authorization'])).toBe(
      `Basic ${Buffer.from(`obkit-gateway:${DCR_BACKEND_PASSWORD}`).toString('base64')}`,
    );
    expect(DCR_BACKEND_PASSWORD).not.toBe(ADMIN_PASSWORD);
  });
});

describe('production stack: verification Jobs', () => {
  it('runs configure after the chart and smoke after configure', () => {
    // dependsOn the Obkit component expands to its Chart, whose own readiness covers the chart's objects.
    const chart = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit');
    const configure = one(run, 'kubernetes:batch/v1:Job', 'verification-configure');
    const smoke = one(run, 'kubernetes:batch/v1:Job', 'verification-smoke');
    expect(configure.dependencies).toContain(chart.urn);
    expect(smoke.dependencies).toContain(configure.urn);
    const command = (job: typeof configure) => job.inputs.spec.template.spec.containers[0].args;
    expect(command(configure)).toEqual([
      'bin/obkit.ts',
      'configure',
      '--environment',
      '/etc/obkit/environment/environment.json',
    ]);
    expect(command(smoke)).toEqual([
      'bin/obkit.ts',
      'smoke',
      '--environment',
      '/etc/obkit/environment/environment.json',
    ]);
    expect(configure.inputs.spec.backoffLimit).toBe(1);
    expect(configure.inputs.spec.template.spec.restartPolicy).toBe('Never');
  });

  it('hands the Jobs the admin credential only as Secret references', () => {
    for (const job of ofType(run, 'kubernetes:batch/v1:Job')) {
      const env = job.inputs.spec.template.spec.containers[0].env;
      expect(env).toEqual([
        {
          name: 'OBKIT__OBKIT__ADMIN__USERNAME',
          valueFrom: { secretKeyRef: { name: 'obkit-admin', key: 'username' } },
        },
        {
          name: 'OBKIT_ADMIN_PASSWORD',
          valueFrom: { secretKeyRef: { name: 'obkit-admin', key: 'password' } },
        },
      ]);
    }
  });

  it('gives the Jobs an environment manifest of in-cluster URLs without mock-register or any secret', async () => {
    const configMap = one(run, 'kubernetes:core/v1:ConfigMap', 'verification-environment');
    const manifest = JSON.parse(configMap.inputs.data['environment.json']);
    expect(manifest.mode).toBe('production');
    expect(manifest.services).toEqual({
      identityServer: { url: 'https://obkit-identity-server:9446' },
      apiManager: { url: 'https://obkit-api-manager:9443' },
      gateway: { url: 'https://obkit-gateway:8243' },
    });
    expect(manifest.tls.clientCertificate).toBeUndefined();
    expect(await resolve(run.outputs.environment)).toEqual(manifest);
    // The same schema the Jobs read it with, and no field it would drop.
    expect(clusterManifestSchema.parse(manifest)).toEqual(manifest);
  });
});

describe('production stack: secrets', () => {
  it('exports the admin password as a secret and the endpoint and CA bundle in the clear', async () => {
    expect(await isSecretOutput(run.outputs.adminPassword)).toBe(true);
    expect(await resolve(run.outputs.adminPassword)).toBe(ADMIN_PASSWORD);
    expect(run.outputs.gatewayEndpoint).toBe('https://cdr.bank.example:8243');
    expect(await isSecretOutput(run.outputs.caBundle)).toBe(false);
    expect(await resolve(run.outputs.caBundle)).toContain('-----BEGIN CERTIFICATE-----');
  });

  it('marks every credential secret where it enters a Kubernetes Secret', () => {
    expect(isSecretAt(secretNamed(run, 'obkit-admin'), 'stringData.password')).toBe(true);
    expect(isSecretAt(secretNamed(run, 'obkit-dcr-backend'), 'stringData.password')).toBe(true);
    expect(isSecretAt(secretNamed(run, 'obkit-database'), 'stringData.url')).toBe(true);
    expect(isSecretAt(secretNamed(run, 'obkit-encryption'), 'stringData.key')).toBe(true);
    expect(isSecretAt(secretNamed(run, 'obkit-server-tls'), 'stringData.tls.key')).toBe(true);
    expect(isSecretAt(secretNamed(run, 'obkit-gateway-internal-client'), 'stringData.tls.key')).toBe(true);
    // The chart's values carry Secret names only: nothing in them is (or needs to be) secret.
    expect(one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').secretPaths).toEqual([]);
  });

  it('keeps every secret value out of everything that is not a Secret', () => {
    for (const resource of run.resources) {
      if (resource.type === 'kubernetes:core/v1:Secret' || resource.type.startsWith('tls:')) continue;
      const text = JSON.stringify(resource.inputs);
      for (const value of SECRET_VALUES)
        expect(text, `${resource.type} ${resource.name}`).not.toContain(value);
    }
  });
});

describe('production stack: policy pack', () => {
  it('passes every rule over the stack resources and the chart they render', async () => {
    const rendered = await renderStackChart(run, 'obkit');
    expect(rendered.map((resource) => resource.type)).toContain('kubernetes:apps/v1:Deployment');
    const resources = [...policyResources(run.resources), ...rendered];
    expect(await runPolicies(resources, { config: { environment: 'production' } })).toEqual([]);
  });
});
