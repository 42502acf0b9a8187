// What a platform team relies on from the rendered chart, checked on `helm template` output of the
// default, sandbox and production value sets (and the deliberately insecure fixture the policy suite
// uses), every object validated against its Kubernetes schema.
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEnvironmentManifest } from '../../lib/config/environment-manifest.ts';
import { chartDir, helmTemplate, type RenderedObject } from '../support/helm.ts';
import {
  COMPONENT_PORTS,
  type Component,
  componentsOf,
  configMaps,
  containerOf,
  deploymentOf,
  deployments,
  hpas,
  ingressAllowed,
  MANAGEMENT_PORTS,
  networkPolicies,
  pdbs,
  type Source,
  selects,
  serviceOf,
  services,
  validateObject,
} from '../support/kubernetes.ts';

const ci = (name: string) => path.join(chartDir, 'ci', `${name}-values.yaml`);
const insecureFixture = path.join(import.meta.dirname, 'fixtures/insecure-values.yaml');

const sets = ['default', 'sandbox', 'production'] as const;
type SetName = (typeof sets)[number];
const rendered = {} as Record<SetName | 'insecure', RenderedObject[]>;

beforeAll(async () => {
  const [defaults, sandbox, production, insecure] = await Promise.all([
    helmTemplate([ci('default')]),
    helmTemplate([ci('sandbox')]),
    helmTemplate([ci('production')]),
    helmTemplate([insecureFixture]),
  ]);
  Object.assign(rendered, { default: defaults, sandbox, production, insecure });
});

const expectedComponents: Record<SetName, Component[]> = {
  default: ['api-manager', 'gateway', 'identity-server'],
  sandbox: ['api-manager', 'banking', 'gateway', 'identity-server', 'mock-register'],
  production: ['api-manager', 'gateway', 'identity-server'],
};

/** The chart's policy for its verification pods (helm test, configure hook, CronJob), not a component's. */
function isVerificationPolicy(policy: { metadata?: { labels?: Record<string, string> } }): boolean {
  return policy.metadata?.labels?.['app.kubernetes.io/component'] === 'verification';
}

function tomlOf(objects: RenderedObject[]): Record<string, Record<string, unknown>> {
  const [configMap] = configMaps(objects);
  return parseToml(configMap?.data?.['obkit.toml'] ?? '') as Record<string, Record<string, unknown>>;
}

describe.each(sets)('%s values', (set) => {
  const objects = () => rendered[set];
  const components = expectedComponents[set];

  it('renders only objects that are valid against their Kubernetes schemas', () => {
    expect(objects().length).toBeGreaterThan(10);
    for (const object of objects()) validateObject(object);
  });

  it('labels every object with the recommended labels', () => {
    for (const object of objects()) {
      const labels = object.metadata.labels ?? {};
      expect(labels, `${object.kind}/${object.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'obkit',
        'app.kubernetes.io/instance': 'obkit',
        'app.kubernetes.io/part-of': 'obkit',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/version': '0.1.0',
      });
    }
  });

  it(`deploys ${components.join(', ')} and nothing else`, () => {
    expect(componentsOf(deployments(objects()))).toEqual(components);
    expect(componentsOf(services(objects()))).toEqual(components);
  });

  it('starts each component from the one image, by its main module', () => {
    for (const component of components) {
      const container = containerOf(deploymentOf(objects(), component));
      expect(container.args).toEqual([`services/${component}/main.ts`]);
      expect(container.image).toMatch(/^[^:]+\/obkit:0\.1\.0(@sha256:[a-f0-9]{64})?$/);
      expect(container.ports).toEqual([
        { name: 'https', containerPort: COMPONENT_PORTS[component], protocol: 'TCP' },
        { name: 'management', containerPort: MANAGEMENT_PORTS[component], protocol: 'TCP' },
      ]);
    }
  });

  it('probes every component on its health endpoints over HTTPS on the management port', () => {
    for (const component of components) {
      const container = containerOf(deploymentOf(objects(), component));
      const health = (p: typeof container.livenessProbe) => p?.httpGet;
      expect(health(container.startupProbe)).toEqual({
        path: '/health/live',
        port: 'management',
        scheme: 'HTTPS',
      });
      expect(health(container.livenessProbe)).toEqual({
        path: '/health/live',
        port: 'management',
        scheme: 'HTTPS',
      });
      expect(health(container.readinessProbe)).toEqual({
        path: '/health/ready',
        port: 'management',
        scheme: 'HTTPS',
      });
    }
  });

  it('runs every pod non-root, read-only, without privileges or a service account token', () => {
    for (const component of components) {
      const pod = deploymentOf(objects(), component).spec?.template.spec;
      const container = containerOf(deploymentOf(objects(), component));
      expect(pod?.automountServiceAccountToken).toBe(false);
      expect(pod?.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 10001,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container.resources?.requests).toMatchObject({
        cpu: expect.anything(),
        memory: expect.anything(),
      });
      expect(container.resources?.limits).toMatchObject({ memory: expect.anything() });
    }
  });

  it('mounts configuration, TLS, truststore and internal CA read-only, and only state and /tmp writable', () => {
    for (const component of components) {
      const deployment = deploymentOf(objects(), component);
      const container = containerOf(deployment);
      const volumes = new Map((deployment.spec?.template.spec?.volumes ?? []).map((v) => [v.name, v]));
      const mounts = new Map((container.volumeMounts ?? []).map((m) => [m.mountPath, m]));
      for (const dir of ['config', 'tls', 'truststore', 'internal-ca']) {
        expect(mounts.get(`/etc/obkit/${dir}`)?.readOnly, `${component} /etc/obkit/${dir}`).toBe(true);
      }
      for (const [mountPath, mount] of mounts) {
        const volume = volumes.get(mount.name);
        if (mount.readOnly) expect(volume?.emptyDir, mountPath).toBeUndefined();
        else expect(volume?.emptyDir, `${component} writable ${mountPath} must be an emptyDir`).toBeDefined();
      }
      expect([...mounts.keys()].filter((p) => !mounts.get(p)?.readOnly).sort()).toEqual([
        '/tmp',
        '/var/lib/obkit',
      ]);
      expect(volumes.get('truststore')?.secret?.items).toEqual([
        { key: 'ca-bundle.pem', path: 'ca-bundle.pem' },
      ]);
      expect(volumes.get('internal-ca')?.secret?.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
      // Only the gateway holds the internal client certificate that identity-server trusts as "the gateway".
      expect(mounts.has('/etc/obkit/internal-client'), component).toBe(component === 'gateway');
      // Only banking holds its own (CN=obkit-banking), which /internal/arrangements accepts and nothing else.
      expect(mounts.has('/etc/obkit/banking-client'), component).toBe(component === 'banking');
      // ... and the vault with its DCR backend credential, the one key of the dcr-backend Secret it needs.
      expect(mounts.has('/etc/obkit/vault'), component).toBe(component === 'gateway');
      const vault = deploymentOf(objects(), component).spec?.template.spec?.volumes?.find(
        (v) => v.name === 'vault',
      );
      if (component === 'gateway') {
        expect(vault?.secret).toMatchObject({
          secretName: expect.stringMatching(/-dcr-backend$/),
          items: [{ key: 'obkit.dcr.backend.authorization', path: 'obkit.dcr.backend.authorization' }],
        });
      }
      expect(container.env?.find((e) => e.name === 'OBKIT_CONFIG')?.value).toBe(
        '/etc/obkit/config/obkit.toml',
      );
    }
  });

  it('passes credentials only as Secret references', () => {
    const credentialEnv = [
      'OBKIT_ADMIN_PASSWORD',
      'OBKIT__OBKIT__ADMIN__USERNAME',
      'DATABASE_URL',
      'OBKIT_ENCRYPTION_KEY',
      'OBKIT_DCR_BACKEND_PASSWORD',
      'OBKIT__OBKIT__DCR_BACKEND__USERNAME',
    ];
    for (const component of components) {
      const env = containerOf(deploymentOf(objects(), component)).env ?? [];
      for (const variable of env.filter((e) => credentialEnv.includes(e.name))) {
        expect(variable.value, `${component} ${variable.name}`).toBeUndefined();
        expect(variable.valueFrom?.secretKeyRef?.key).toMatch(/^(username|password|url|key)$/);
      }
      // Only the services that store secrets get the key that encrypts them, from its own Secret.
      const encryptionKey = env.find((e) => e.name === 'OBKIT_ENCRYPTION_KEY')?.valueFrom?.secretKeyRef;
      if (['identity-server', 'api-manager'].includes(component)) {
        expect(encryptionKey, component).toEqual({ name: expect.stringMatching(/-encryption$/), key: 'key' });
      } else expect(encryptionKey, component).toBeUndefined();
      // Each service its own credential: the gateway holds no admin password, only its vault; banking none.
      expect(
        env.some((e) => e.name === 'OBKIT_ADMIN_PASSWORD'),
        component,
      ).toBe(!['gateway', 'banking'].includes(component));
      expect(
        env.some((e) => e.name === 'OBKIT_DCR_BACKEND_PASSWORD'),
        component,
      ).toBe(component === 'identity-server');
      const hasDatabase = env.some((e) => e.name === 'DATABASE_URL');
      expect(hasDatabase, component).toBe(set === 'production' && component !== 'gateway');
    }
    expect(objects().filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const configMap of configMaps(objects())) {
      // The environment manifest names the variables that carry the credential, and nothing more.
      const { 'environment.json': manifest, ...data } = configMap.data ?? {};
      if (manifest) {
        expect(JSON.parse(manifest).admin).toEqual({
          usernameEnv: 'OBKIT__OBKIT__ADMIN__USERNAME',
          passwordEnv: 'OBKIT_ADMIN_PASSWORD',
        });
        expect(manifest).not.toMatch(/postgres(ql)?:\/\//i);
      }
      expect(JSON.stringify(data)).not.toMatch(/password|postgres(ql)?:\/\//i);
    }
  });

  it('writes a TOML configuration the services read: bind-all, state in the emptyDir, mounted TLS paths', () => {
    const toml = tomlOf(objects());
    const obkit = toml.obkit as Record<string, Record<string, unknown>>;
    expect(obkit).toMatchObject({
      mode: set === 'production' ? 'production' : 'sandbox',
      bind_address: '0.0.0.0',
      state_dir: '/var/lib/obkit',
      allow_private_addresses: set === 'sandbox',
    });
    expect(obkit.tls).toMatchObject({
      certificate: '/etc/obkit/tls/tls.crt',
      private_key: '/etc/obkit/tls/tls.key',
      truststore: '/etc/obkit/truststore/ca-bundle.pem',
      internal_ca: '/etc/obkit/internal-ca/ca.crt',
      internal_client_certificate: '/etc/obkit/internal-client/tls.crt',
      internal_client_key: '/etc/obkit/internal-client/tls.key',
      banking_client_certificate: '/etc/obkit/banking-client/tls.crt',
      banking_client_key: '/etc/obkit/banking-client/tls.key',
    });
    expect(obkit.identity_server).toEqual({
      port: 9446,
      management_port: 9546,
      url: 'https://obkit-obkit-identity-server:9446',
    });
    expect(obkit.api_manager).toEqual({
      port: 9443,
      management_port: 9543,
      url: 'https://obkit-obkit-api-manager:9443',
    });
    expect(obkit.gateway).toMatchObject({ port: 8243, management_port: 8343 });
    expect(obkit.mock_register !== undefined).toBe(components.includes('mock-register'));
    if (components.includes('banking')) {
      expect(obkit.banking).toEqual({
        port: 9447,
        management_port: 9547,
        url: 'https://obkit-obkit-banking:9447',
      });
    } else expect(obkit.banking).toBeUndefined();
  });

  it('names the banking service in the environment manifest exactly when it deploys it', () => {
    const json = configMaps(objects()).find((c) => c.data?.['environment.json'])?.data?.['environment.json'];
    // As the configure and smoke Jobs read it: a banking target publishes the API and runs the journey.
    const manifest = parseEnvironmentManifest(JSON.parse(json ?? '{}'), '/tmp');
    if (components.includes('banking')) {
      expect(manifest.banking).toEqual({ url: 'https://obkit-obkit-banking:9447' });
      expect(manifest.kubernetes?.deployments).toContain('obkit-obkit-banking');
    } else expect(manifest.banking).toBeUndefined();
  });

  it('exposes the gateway on 8243 as plain TCP, and nothing else outside the cluster', () => {
    const gateway = serviceOf(objects(), 'gateway');
    expect(gateway.spec?.ports).toEqual([
      { name: 'https', port: 8243, targetPort: 'https', protocol: 'TCP' },
    ]);
    expect(gateway.spec?.type).toBe(set === 'sandbox' ? 'ClusterIP' : 'LoadBalancer');
    for (const component of components.filter((c) => c !== 'gateway')) {
      const service = serviceOf(objects(), component);
      expect(service.spec?.type, component).toBe('ClusterIP');
      expect(service.spec?.ports?.[0]?.port).toBe(COMPONENT_PORTS[component]);
    }
  });

  it('puts no management port (health, metrics) on any Service', () => {
    for (const component of components) {
      const ports = serviceOf(objects(), component).spec?.ports ?? [];
      expect(
        ports.map((port) => port.targetPort),
        component,
      ).toEqual(['https']);
    }
  });

  it('gives each component a NetworkPolicy selecting exactly its pods', () => {
    const policies = networkPolicies(objects()).filter((p) => !isVerificationPolicy(p));
    expect(componentsOf(policies)).toEqual(components);
    for (const component of components) {
      const podLabels = deploymentOf(objects(), component).spec?.template.metadata?.labels ?? {};
      const selecting = policies.filter((p) => selects(p.spec?.podSelector, podLabels));
      expect(componentsOf(selecting)).toEqual([component]);
    }
  });
});

describe('network reachability (default values)', () => {
  const podOf = (component: string, objects = rendered.default) =>
    deploymentOf(objects, component).spec?.template.metadata?.labels ?? {};
  const allowed = (from: Source, to: Component, objects = rendered.default) =>
    ingressAllowed(networkPolicies(objects), podOf(to, objects), from, COMPONENT_PORTS[to]);
  const job = (component: string) => ({ pod: { 'app.kubernetes.io/component': component } });
  const external = { external: true } as const;

  it('lets anyone reach the gateway, and no one outside reach the internal ports', () => {
    expect(allowed(external, 'gateway')).toBe(true);
    expect(allowed(external, 'identity-server')).toBe(false);
    expect(allowed(external, 'api-manager')).toBe(false);
  });

  it('lets the gateway and the post-deploy Jobs reach identity-server and api-manager', () => {
    for (const target of ['identity-server', 'api-manager'] as const) {
      expect(allowed({ pod: podOf('gateway') }, target), target).toBe(true);
      expect(allowed(job('configure'), target), target).toBe(true);
      expect(allowed(job('smoke'), target), target).toBe(true);
    }
    expect(allowed({ pod: podOf('api-manager') }, 'identity-server')).toBe(true);
  });

  it('lets only the gateway (and the Jobs) reach banking, and banking reach identity-server (sandbox values)', () => {
    const sandbox = rendered.sandbox;
    const gateway = { pod: podOf('gateway', sandbox) };
    expect(allowed(gateway, 'banking', sandbox)).toBe(true);
    expect(allowed(job('configure'), 'banking', sandbox)).toBe(true);
    expect(allowed({ pod: podOf('banking', sandbox) }, 'identity-server', sandbox)).toBe(true);
    expect(allowed(external, 'banking', sandbox)).toBe(false);
    for (const other of ['identity-server', 'api-manager', 'mock-register']) {
      expect(allowed({ pod: podOf(other, sandbox) }, 'banking', sandbox), other).toBe(false);
    }
    expect(allowed({ pod: podOf('banking', sandbox) }, 'api-manager', sandbox)).toBe(false);
  });

  it('refuses other pods of the namespace on the internal ports', () => {
    const stranger = { pod: { app: 'debug-shell' } };
    expect(allowed(stranger, 'identity-server')).toBe(false);
    expect(allowed(stranger, 'api-manager')).toBe(false);
    expect(allowed({ pod: podOf('identity-server') }, 'api-manager')).toBe(false);
    // Same component label but another release: not this release's gateway.
    const otherRelease = { pod: { ...podOf('gateway'), 'app.kubernetes.io/instance': 'other' } };
    expect(allowed(otherRelease, 'identity-server')).toBe(false);
  });

  it('opens identity-server to everyone only when identityServer.exposeExternally is set', async () => {
    const exposed = await helmTemplate([], ['identityServer.exposeExternally=true']);
    expect(allowed(external, 'identity-server', exposed)).toBe(true);
    expect(allowed(external, 'api-manager', exposed)).toBe(false);
  });

  it('renders no NetworkPolicy when disabled (so the insecure fixture has none)', () => {
    expect(networkPolicies(rendered.insecure)).toEqual([]);
  });

  it('lets only the metricsFrom peers reach the management ports, and them nothing else (production values)', () => {
    const production = rendered.production;
    const monitoring = { namespace: { 'kubernetes.io/metadata.name': 'monitoring' } };
    for (const component of ['identity-server', 'api-manager', 'gateway'] as const) {
      const target = podOf(component, production);
      const reach = (from: Source, port: number) =>
        ingressAllowed(networkPolicies(production), target, from, port);
      expect(reach(monitoring, MANAGEMENT_PORTS[component]), component).toBe(true);
      expect(reach(external, MANAGEMENT_PORTS[component]), component).toBe(false);
      expect(reach({ pod: podOf('gateway', production) }, MANAGEMENT_PORTS[component]), component).toBe(
        false,
      );
      expect(reach(job('configure'), MANAGEMENT_PORTS[component]), component).toBe(false);
      if (component !== 'gateway')
        expect(reach(monitoring, COMPONENT_PORTS[component]), component).toBe(false);
    }
  });

  it('keeps the management ports closed to everyone when no metricsFrom is set (default values)', () => {
    for (const component of ['identity-server', 'api-manager', 'gateway'] as const) {
      expect(
        ingressAllowed(
          networkPolicies(rendered.default),
          podOf(component),
          external,
          MANAGEMENT_PORTS[component],
        ),
        component,
      ).toBe(false);
    }
  });
});

describe('availability', () => {
  it('gives a PodDisruptionBudget to every component running more than one pod, and none to single pods', () => {
    expect(componentsOf(pdbs(rendered.default))).toEqual(['gateway']);
    expect(componentsOf(pdbs(rendered.sandbox))).toEqual([]);
    expect(componentsOf(pdbs(rendered.production))).toEqual(['api-manager', 'gateway', 'identity-server']);
    for (const pdb of pdbs(rendered.production)) {
      const component = pdb.metadata?.labels?.['app.kubernetes.io/component'] ?? '';
      const podLabels = deploymentOf(rendered.production, component).spec?.template.metadata?.labels ?? {};
      for (const [key, value] of Object.entries(pdb.spec?.selector?.matchLabels ?? {})) {
        expect(podLabels[key]).toBe(value);
      }
      expect(pdb.spec?.minAvailable).toBe(1);
    }
  });

  it('autoscales the gateway with an autoscaling/v2 HPA that owns its replica count (production values)', () => {
    const [hpa, ...others] = hpas(rendered.production);
    expect(others).toEqual([]);
    expect(hpa?.apiVersion).toBe('autoscaling/v2');
    expect(hpa?.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'obkit-obkit-gateway' },
      minReplicas: 3,
      maxReplicas: 12,
    });
    expect(hpa?.spec?.metrics?.[0]?.resource).toEqual({
      name: 'cpu',
      target: { type: 'Utilization', averageUtilization: 65 },
    });
    // With an HPA the Deployment leaves replicas alone, or every upgrade would reset the scale.
    expect(deploymentOf(rendered.production, 'gateway').spec?.replicas).toBeUndefined();
    expect(hpas(rendered.default)).toEqual([]);
  });
});

describe('graceful shutdown', () => {
  it('pauses before SIGTERM, gives the services their grace period, and lets Kubernetes wait for both', () => {
    for (const set of sets) {
      expect(tomlOf(rendered[set]).obkit?.shutdown_grace_seconds).toBe(20);
      for (const deployment of deployments(rendered[set])) {
        const pod = deployment.spec!.template.spec!;
        expect(pod.containers[0]?.lifecycle?.preStop).toEqual({ exec: { command: ['sleep', '5'] } });
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5 + 20);
      }
    }
  });

  it('follows shutdown values, and refuses a termination grace period the drain would outlast', async () => {
    const longer = await helmTemplate(
      [ci('default')],
      ['shutdown.preStopSeconds=0', 'shutdown.graceSeconds=25', 'gateway.terminationGracePeriodSeconds=30'],
    );
    expect(tomlOf(longer).obkit?.shutdown_grace_seconds).toBe(25);
    expect(containerOf(deploymentOf(longer, 'gateway')).lifecycle).toBeUndefined();
    await expect(
      helmTemplate([ci('default')], ['shutdown.graceSeconds=40', 'gateway.terminationGracePeriodSeconds=45']),
    ).rejects.toThrow(/identityServer.terminationGracePeriodSeconds \(30\) must exceed .* \(45\)/);
  });
});

describe('configuration changes roll the pods', () => {
  const checksums = (objects: RenderedObject[]) =>
    deployments(objects).map((d) => d.spec?.template.metadata?.annotations?.['checksum/config']);

  it('annotates every pod with the same checksum of the ConfigMap, stable across renders', async () => {
    const again = await helmTemplate([ci('default')]);
    const first = checksums(rendered.default);
    expect(first.every((sum) => /^[a-f0-9]{64}$/.test(sum ?? ''))).toBe(true);
    expect(new Set(first).size).toBe(1);
    expect(checksums(again)).toEqual(first);
  });

  it('changes the checksum when the configuration changes', async () => {
    const changed = await helmTemplate([ci('default')], ['config.logLevel=debug']);
    const before = checksums(rendered.default)[0];
    for (const sum of checksums(changed)) expect(sum).not.toBe(before);
  });
});

describe('the deliberately insecure fixture (used by the policy suite)', () => {
  it('still renders valid objects carrying the insecure settings', () => {
    for (const object of rendered.insecure) validateObject(object);
    const identityServer = deploymentOf(rendered.insecure, 'identity-server');
    expect(identityServer.spec?.template.spec?.securityContext?.runAsUser).toBe(0);
    expect(containerOf(identityServer).env).toContainEqual({
      name: 'OBKIT__OBKIT__ADMIN__PASSWORD',
      value: 'insecure-plain-text-password',
    });
    expect(serviceOf(rendered.insecure, 'identity-server').spec?.type).toBe('LoadBalancer');
    expect(deploymentOf(rendered.insecure, 'gateway').spec?.replicas).toBe(1);
  });
});

describe('image reference', () => {
  it('pins the production image by digest', () => {
    expect(containerOf(deploymentOf(rendered.production, 'gateway')).image).toBe(
      'registry.bank.example/obkit:0.1.0@sha256:3f1c2a7b9d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8',
    );
  });
});
