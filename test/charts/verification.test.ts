import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterManifestSchema } from '../../lib/config/environment-manifest.ts';
import { chartDir, helm, helmTemplate, type RenderedObject } from '../support/helm.ts';
import { validateObject } from '../support/kubernetes.ts';

// The chart's own verification: the `helm test` Pod, the configure hook Job, the scheduled verification
// CronJob, the environment manifest they read, their NetworkPolicy, and the Prometheus Operator monitors.

const sandbox = path.join(chartDir, 'ci', 'sandbox-values.yaml');
const production = path.join(chartDir, 'ci', 'production-values.yaml');
const everything = [
  'verification.configureHook.enabled=true',
  'verification.cronJob.enabled=true',
  'verification.cronJob.pushgatewayUrl=http://pushgateway.monitoring:9091',
  'verification.cronJob.resultsClaim=obkit-results',
  'verification.smokeClientSecret=obkit-smoke-client',
  'metrics.serviceMonitor.enabled=true',
];
let objects: RenderedObject[];

// biome-ignore lint/suspicious/noExplicitAny: rendered objects are untyped YAML.
const find = (kind: string, name: string): any => {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!object) throw new Error(`${kind} ${name} not rendered`);
  return object;
};

beforeAll(async () => {
  objects = await helmTemplate([production], everything, { release: 'bank', namespace: 'cdr' });
});

describe('verification templates (production values, release "bank")', () => {
  it('renders valid objects, and helm lint --strict passes with every option on', async () => {
    for (const object of objects) validateObject(object);
    const lint = await helm([
      'lint',
      '--strict',
      chartDir,
      '--values',
      production,
      ...everything.flatMap((s) => ['--set', s]),
    ]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
  });

  it("writes an environment manifest with this release's names", () => {
    const manifest = JSON.parse(find('ConfigMap', 'bank-obkit-environment').data['environment.json']);
    expect(manifest).toMatchObject({
      name: 'bank',
      mode: 'production',
      namespace: 'cdr',
      services: {
        identityServer: { url: 'https://bank-obkit-identity-server:9446' },
        apiManager: { url: 'https://bank-obkit-api-manager:9443' },
        gateway: { url: 'https://bank-obkit-gateway:8243' },
      },
      publicGatewayUrl: 'https://cdr.bank.example:8243',
      tls: {
        clientCertificate: '/etc/obkit/smoke-client/tls.crt',
        clientKey: '/etc/obkit/smoke-client/tls.key',
      },
      kubernetes: {
        deployments: ['bank-obkit-identity-server', 'bank-obkit-api-manager', 'bank-obkit-gateway'],
        truststoreSecret: 'obkit-cdr-truststore',
      },
    });
    expect(manifest.services.mockRegister).toBeUndefined();
    // The Jobs read it with the one manifest schema: it parses, and no field is one the schema drops.
    expect(clusterManifestSchema.parse(manifest)).toEqual(manifest);
  });

  it('helm test runs obkit smoke; the hook runs obkit configure after install and upgrade', () => {
    const test = find('Pod', 'bank-obkit-smoke-test');
    expect(test.metadata.annotations['helm.sh/hook']).toBe('test');
    expect(test.spec.containers[0].args).toEqual([
      'bin/obkit.ts',
      'smoke',
      '--environment',
      '/etc/obkit/environment/environment.json',
    ]);
    const hook = find('Job', 'bank-obkit-configure');
    expect(hook.metadata.annotations['helm.sh/hook']).toBe('post-install,post-upgrade');
    expect(hook.spec.template.spec.containers[0].args.slice(1, 3)).toEqual(['configure', '--no-smoke']);
    for (const pod of [test.spec, hook.spec.template.spec]) {
      expect(pod.containers[0].securityContext).toMatchObject({
        runAsUser: 10001,
        readOnlyRootFilesystem: true,
      });
      expect(pod.containers[0].env.map((e: { name: string }) => e.name)).toEqual([
        'OBKIT__OBKIT__ADMIN__USERNAME',
        'OBKIT_ADMIN_PASSWORD',
      ]);
      expect(pod.volumes.find((v: { name: string }) => v.name === 'smoke-client').secret.secretName).toBe(
        'obkit-smoke-client',
      );
    }
  });

  it('the CronJob runs the checks that need no SSA, without the admin credential, and reports', () => {
    const cron = find('CronJob', 'bank-obkit-verification');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(pod.containers[0].args).toEqual([
      'bin/obkit.ts',
      'smoke',
      '--no-registration',
      '--json',
      '--junit',
      '/var/lib/obkit/results/smoke.junit.xml',
      '--metrics-file',
      '/var/lib/obkit/results/smoke.prom',
      '--pushgateway',
      'http://pushgateway.monitoring:9091',
      '--environment',
      '/etc/obkit/environment/environment.json',
    ]);
    expect(pod.containers[0].env).toBeUndefined();
    expect(pod.volumes).toContainEqual({
      name: 'results',
      persistentVolumeClaim: { claimName: 'obkit-results' },
    });
  });

  it('lets nothing reach the verification pods, and them only DNS, the release and the Pushgateway', () => {
    const policy = find('NetworkPolicy', 'bank-obkit-verification');
    expect(policy.spec.podSelector.matchExpressions[0].values).toEqual([
      'configure',
      'smoke',
      'verification',
    ]);
    expect(policy.spec.ingress).toEqual([]);
    const ports = policy.spec.egress.map((rule: { ports: { port: number }[] }) =>
      rule.ports.map((p) => p.port),
    );
    expect(ports).toEqual([[53, 53], [9446, 9443, 8243], [9091]]);
  });

  it('scrapes each component over HTTPS with the server CA and its Service name, on the management port', () => {
    const monitor = find('ServiceMonitor', 'bank-obkit-gateway');
    expect(monitor.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('gateway');
    // The public Service has no /metrics: the monitor follows a headless Service of the management port.
    const metrics = find('Service', 'bank-obkit-gateway-metrics');
    expect(metrics.spec).toMatchObject({
      clusterIP: 'None',
      ports: [{ name: 'management', port: 8343, targetPort: 'management', protocol: 'TCP' }],
    });
    expect(metrics.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(find('Service', 'bank-obkit-gateway').metadata.labels).not.toMatchObject(
      monitor.spec.selector.matchLabels,
    );
    expect(monitor.spec.endpoints[0]).toMatchObject({
      port: 'management',
      path: '/metrics',
      scheme: 'https',
      tlsConfig: {
        serverName: 'bank-obkit-gateway',
        ca: { secret: { name: 'bank-obkit-server-ca', key: 'ca.crt' } },
      },
    });
    expect(objects.filter((o) => o.kind === 'ServiceMonitor')).toHaveLength(3);
  });
});

describe('verification defaults', () => {
  it('renders the helm test only: no hook, no CronJob, no monitors', async () => {
    const defaults = await helmTemplate([sandbox]);
    const kinds = defaults.map((o) => o.kind);
    expect(kinds).toContain('Pod');
    for (const kind of ['Job', 'CronJob', 'ServiceMonitor', 'PodMonitor']) expect(kinds).not.toContain(kind);
  });

  it('refuses a Pushgateway URL that is not http(s)', async () => {
    const result = await helm([
      'template',
      'x',
      chartDir,
      '--values',
      sandbox,
      '--set',
      'verification.cronJob.pushgatewayUrl=ftp://x',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/pushgatewayUrl/);
  });
});
