import { createHash, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPolicies, violatedPolicies } from '../support/policies.ts';
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

// The program under mocks with the sandbox configuration of Pulumi.sandbox.yaml: generated PKI and
// admin password, CloudNativePG, in-cluster mock-register.

let run: StackRun;

beforeAll(async () => {
  run = await runStack('sandbox', await stackFileConfig('sandbox'));
});

describe('sandbox stack: resources', () => {
  it('generates its PKI, admin password and encryption key and runs CloudNativePG', () => {
    expect(run.resources.length).toBeGreaterThan(30);
    const types = run.resources.map((resource) => resource.type);
    for (const type of [
      'obkit:pki:SandboxPki',
      'obkit:pki:InternalPki',
      'obkit:db:Postgres',
      'obkit:k8s:AdminCredential',
      'obkit:k8s:Obkit',
      'obkit:k8s:Verification',
      'tls:index/selfSignedCert:SelfSignedCert',
      'tls:index/locallySignedCert:LocallySignedCert',
      'random:index/randomPassword:RandomPassword',
      'obkit:k8s:EncryptionKey',
      'random:index/randomBytes:RandomBytes',
      'kubernetes:postgresql.cnpg.io/v1:Cluster',
    ]) {
      expect(types, type).toContain(type);
    }
    expect(types).not.toContain('obkit:pki:SuppliedPki');
  });

  it("generates the gateway's own DCR backend password, apart from the admin's", () => {
    const component = one(run, 'obkit:k8s:DcrBackendCredential', 'dcr-backend');
    const password = one(run, 'random:index/randomPassword:RandomPassword', 'dcr-backend-password');
    expect(password.parent).toBe(component.urn);
    expect(password.inputs).toMatchObject({ length: 32 });
    expect(one(run, 'random:index/randomPassword:RandomPassword', 'admin-password').urn).not.toBe(
      password.urn,
    );
    const secret = secretNamed(run, 'obkit-dcr-backend');
    expect(secret.parent).toBe(component.urn);
    expect(Object.keys(secret.inputs.stringData).sort()).toEqual([
      'obkit.dcr.backend.authorization',
      'password',
      'username',
    ]);
  });

  it('issues the server certificate for every in-cluster Service name and the public host name', () => {
    const request = one(run, 'tls:index/certRequest:CertRequest', 'pki-server-csr');
    expect(request.inputs.dnsNames).toEqual(
      expect.arrayContaining([
        'obkit-identity-server',
        'obkit-gateway.obkit-sandbox.svc',
        'obkit-mock-register.obkit-sandbox.svc.cluster.local',
        'obkit-banking.obkit-sandbox.svc',
        'localhost',
      ]),
    );
    expect(request.inputs.subject).toEqual({ commonName: 'obkit services', organization: 'obkit sandbox' });
  });

  it('gives the server certificate an RSA-2048 key (the FAPI TLS 1.2 suites are RSA) and the rest P-256', () => {
    expect(one(run, 'tls:index/privateKey:PrivateKey', 'pki-server-key').inputs).toMatchObject({
      algorithm: 'RSA',
      rsaBits: 2048,
    });
    const others = ofType(run, 'tls:index/privateKey:PrivateKey').filter(
      (key) => key.name !== 'pki-server-key',
    );
    expect(others.length).toBeGreaterThan(3);
    for (const key of others)
      expect(key.inputs, key.name).toMatchObject({ algorithm: 'ECDSA', ecdsaCurve: 'P256' });
  });

  it('chains the issuing CA to the root CA and keeps the internal CA apart', async () => {
    const certificate = (name: string) =>
      new X509Certificate(
        one(
          run,
          name.endsWith('root-ca') || name.endsWith('internal-ca')
            ? 'tls:index/selfSignedCert:SelfSignedCert'
            : 'tls:index/locallySignedCert:LocallySignedCert',
          name,
        ).state.certPem,
      );
    expect(certificate('pki-issuing-ca').issuer).toBe(certificate('pki-root-ca').subject);
    expect(certificate('pki-internal-gateway-client').subject).toContain('CN=obkit-gateway');
    expect(certificate('pki-internal-gateway-client').issuer).toBe(certificate('pki-internal-ca').subject);
    expect(certificate('pki-internal-ca').subject).not.toBe(certificate('pki-root-ca').subject);
    expect(
      one(run, 'tls:index/locallySignedCert:LocallySignedCert', 'pki-smoke-client').inputs.allowedUses,
    ).toContain('client_auth');
  });

  it('bootstraps the CloudNativePG cluster from an owner Secret and hands the chart a url Secret', () => {
    const cluster = one(run, 'kubernetes:postgresql.cnpg.io/v1:Cluster', 'database-cluster');
    expect(cluster.inputs.spec.bootstrap.initdb).toEqual({
      database: 'obkit',
      owner: 'obkit',
      secret: { name: 'obkit-database-owner' },
    });
    expect(cluster.dependencies).toContain(one(run, 'kubernetes:helm.sh/v4:Chart', 'database-operator').urn);
    const url = secretNamed(run, 'obkit-database').inputs.stringData.url;
    expect(url).toBe(
      'postgres://obkit:mock-random-password-database-owner-password@obkit-db-rw.obkit-sandbox.svc:5432/obkit?sslmode=no-verify',
    );
    expect(isSecretAt(secretNamed(run, 'obkit-database'), 'stringData.url')).toBe(true);
  });
});

describe('sandbox stack: the chart and the Jobs', () => {
  it('enables the mock-register, private-address fetches and trusts the sandbox CA for outbound calls', () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    expect(values.global.mode).toBe('sandbox');
    expect(values.mockRegister).toMatchObject({ enabled: true });
    expect(values.config.allowPrivateAddresses).toBe(true);
    expect(values.config.toml).toContain(
      'jwks_url_sandbox = "https://obkit-mock-register:7000/cdr-register/v1/jwks"',
    );
    expect(values.tls.outboundCaSecret).toBe('obkit-server-ca');
    expect(values.gateway).toMatchObject({ replicaCount: 1, autoscaling: { enabled: false } });
  });

  it('deploys the banking data API with its own internal client certificate (CN=obkit-banking) from a Secret', async () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    expect(values.banking).toMatchObject({ enabled: true });
    expect(values.tls.bankingInternalClientSecret).toBe('obkit-banking-internal-client');
    const secret = secretNamed(run, 'obkit-banking-internal-client');
    expect(secret.parent).toBe(one(run, 'obkit:pki:InternalPki', 'pki-internal').urn);
    expect(secret.inputs.type).toBe('kubernetes.io/tls');
    expect(isSecretAt(secret, 'stringData.tls.key')).toBe(true);
    const certificate = new X509Certificate(secret.inputs.stringData['tls.crt']);
    expect(certificate.subject).toContain('CN=obkit-banking');
    // Issued by the internal CA, the only CA identity-server's /internal/arrangements accepts.
    const internalCa = new X509Certificate(secretNamed(run, 'obkit-internal-ca').inputs.stringData['ca.crt']);
    expect(certificate.issuer).toBe(internalCa.subject);
    expect(certificate.checkIssued(internalCa)).toBe(true);
    expect(
      one(run, 'tls:index/locallySignedCert:LocallySignedCert', 'pki-internal-banking-client').inputs
        .allowedUses,
    ).toContain('client_auth');
    const manifest = await resolve(run.outputs.environment);
    expect(manifest.services.banking).toEqual({ url: 'https://obkit-banking:9447' });
  });

  it('mounts the smoke recipient certificate in the Jobs and lists the mock-register in the manifest', async () => {
    const smoke = one(run, 'kubernetes:batch/v1:Job', 'verification-smoke');
    expect(smoke.inputs.spec.template.spec.volumes).toContainEqual({
      name: 'smoke-client',
      secret: { secretName: 'obkit-smoke-client', defaultMode: 0o440 },
    });
    const manifest = await resolve(run.outputs.environment);
    expect(manifest.services.mockRegister).toEqual({ url: 'https://obkit-mock-register:7000' });
    expect(manifest.tls.clientCertificate).toBe('/etc/obkit/smoke-client/tls.crt');
  });

  it('keeps the generated encryption key in its Secret, marked secret, and hands it over by name only', () => {
    const secret = secretNamed(run, 'obkit-encryption');
    expect(isSecretAt(secret, 'stringData.key')).toBe(true);
    expect(Buffer.from(secret.inputs.stringData.key, 'base64')).toHaveLength(32);
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    expect(values.encryption).toEqual({ existingSecret: 'obkit-encryption' });
    for (const resource of run.resources) {
      if (resource.type === 'kubernetes:core/v1:Secret' || resource.type.startsWith('random:')) continue;
      expect(JSON.stringify(resource.inputs)).not.toContain(secret.inputs.stringData.key);
    }
  });

  it('exports the generated admin password as a secret that no Job or ConfigMap contains', async () => {
    expect(await isSecretOutput(run.outputs.adminPassword)).toBe(true);
    const password = await resolve(run.outputs.adminPassword);
    expect(password).toBe('mock-random-password-admin-password');
    for (const resource of [
      ...ofType(run, 'kubernetes:batch/v1:Job'),
      ...ofType(run, 'kubernetes:core/v1:ConfigMap'),
    ]) {
      expect(JSON.stringify(resource.inputs)).not.toContain(password);
    }
  });
});

describe('sandbox stack: a local cluster', () => {
  it('creates every Kubernetes object through one explicit provider on the configured context', () => {
    const provider = one(run, 'pulumi:providers:kubernetes', 'kubernetes');
    expect(provider.inputs.context).toBe('kind-obkit');
    const objects = run.resources.filter((r) => r.type.startsWith('kubernetes:'));
    expect(objects.length).toBeGreaterThan(15);
    for (const object of objects)
      expect(object.provider, `${object.type} ${object.name}`).toMatch(
        /^urn:pulumi:sandbox::obkit::pulumi:providers:kubernetes::kubernetes::/,
      );
  });

  it('deploys the image `npm run image` builds and a gateway NodePort that needs no load balancer', async () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    expect(values.image).toMatchObject({ repository: 'localhost/obkit', tag: '0.1.0' });
    const gateway = (await renderStackChart(run, 'obkit-sandbox')).find(
      (r) => r.type === 'kubernetes:core/v1:Service' && r.props.metadata.name === 'obkit-gateway',
    );
    expect(gateway?.props.spec.type).toBe('NodePort');
    expect(gateway?.props.spec.ports).toEqual([expect.objectContaining({ port: 8243, nodePort: 30243 })]);
    expect(await resolve(run.outputs.gatewayEndpoint)).toBe('https://localhost:8243');
  });

  it("names in the Jobs' manifest are the ones the chart renders for the stack's release", async () => {
    const rendered = await renderStackChart(run, 'obkit-sandbox');
    const names = (kind: string) =>
      rendered.filter((r) => r.type === `kubernetes:${kind}`).map((r) => r.props.metadata.name as string);
    const manifest = await resolve(run.outputs.environment);
    expect([...manifest.kubernetes.deployments].sort()).toEqual(names('apps/v1:Deployment').sort());
    const hosts = Object.values(manifest.services as Record<string, { url: string }>).map(
      (s) => new URL(s.url).hostname,
    );
    expect(hosts.sort()).toEqual(names('core/v1:Service').sort());
    expect(manifest.kubernetes.truststoreSecret).toBe(
      secretNamed(run, 'obkit-truststore').inputs.metadata.name,
    );
    const chartManifest = JSON.parse(
      rendered.find((r) => r.props.metadata.name === 'obkit-environment')!.props.data['environment.json'],
    );
    expect(chartManifest.services).toEqual(manifest.services);
    expect(chartManifest.kubernetes).toEqual(manifest.kubernetes);
  });

  it('rolls the pods when the truststore changes: its checksum is a pod annotation', async () => {
    const { values } = one(run, 'kubernetes:helm.sh/v4:Chart', 'obkit').inputs;
    const bundle = secretNamed(run, 'obkit-truststore').inputs.stringData['ca-bundle.pem'];
    const checksum = createHash('sha256').update(bundle).digest('hex');
    for (const key of ['identityServer', 'apiManager', 'gateway', 'mockRegister', 'banking'])
      expect(values[key].podAnnotations, key).toEqual({ 'checksum/truststore': checksum });
  });
});

describe('sandbox stack: policy pack', () => {
  it('passes every rule as a sandbox', async () => {
    const resources = [...policyResources(run.resources), ...(await renderStackChart(run, 'obkit-sandbox'))];
    expect(await runPolicies(resources, { config: { environment: 'sandbox' } })).toEqual([]);
  });

  it('fails the production rules if deployed as production', async () => {
    const resources = [...policyResources(run.resources), ...(await renderStackChart(run, 'obkit-sandbox'))];
    const violations = await runPolicies(resources, { config: { environment: 'production' } });
    expect(violatedPolicies(violations)).toEqual([
      'production-gateway-replicas',
      'production-no-mock-register',
      'production-no-private-addresses',
      'production-no-sandbox-ca',
    ]);
    // The generated certificates themselves give the sandbox away, not only labels.
    expect(violations.map((violation) => violation.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/holds a sandbox certificate \(CN=obkit sandbox root CA/),
      ]),
    );
  });
});
