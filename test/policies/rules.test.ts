import { describe, expect, it } from 'vitest';
import { obkitPolicies } from '../../policies/policies.ts';
import { unpinnedReason } from '../../policies/rules/images-pinned.ts';
import { type Resource, resourceFromObject, runPolicies, violatedPolicies } from '../support/policies.ts';
import {
  compliantProduction,
  containerOf,
  deployment,
  labels,
  networkPolicy,
  obkitConfigMap,
  PRODUCTION_TOML,
  podDisruptionBudget,
  ruleFixtures,
  sandboxCaPem,
} from '../support/policy-fixtures.ts';

const production = { config: { environment: 'production' } };
const resources = (objects: object[]) => objects.map(resourceFromObject);
const PRODUCTION_ONLY = obkitPolicies
  .map((policy) => policy.name)
  .filter((name) => name.startsWith('production-'));

describe('policy fixtures', () => {
  it('cover every rule of the pack', () => {
    expect(Object.keys(ruleFixtures).sort()).toEqual(obkitPolicies.map((policy) => policy.name).sort());
  });

  for (const [name, fixture] of Object.entries(ruleFixtures)) {
    describe(name, () => {
      it('passes every rule with the compliant fixture', async () => {
        expect(await runPolicies(resources(await fixture.compliant()), production)).toEqual([]);
      });

      it('fails this rule, and only this rule, with the violating fixture', async () => {
        const violations = await runPolicies(resources(await fixture.violating()), production);
        expect(violatedPolicies(violations)).toEqual([name]);
        expect(violations.map((violation) => violation.message)).toEqual(
          expect.arrayContaining([expect.stringMatching(fixture.message)]),
        );
      });
    });
  }
});

describe('environment of the production-only rules', () => {
  const everyProductionViolation = async (): Promise<Resource[]> => {
    const objects = [
      ...compliantProduction(),
      deployment('mock-register'),
      networkPolicy('mock-register'),
      obkitConfigMap(PRODUCTION_TOML.replace('= false', '= true')),
    ];
    const gateway = objects.find(
      (object) => object.metadata.name === 'obkit-gateway' && object.kind === 'Deployment',
    );
    gateway!.spec.replicas = 1;
    return resources(objects);
  };

  it('applies them when the policy config says production', async () => {
    expect(violatedPolicies(await runPolicies(await everyProductionViolation(), production))).toEqual(
      expect.arrayContaining([
        'production-gateway-replicas',
        'production-no-mock-register',
        'production-no-private-addresses',
      ]),
    );
  });

  it('skips them when the policy config says sandbox', async () => {
    const violations = await runPolicies(await everyProductionViolation(), {
      config: { environment: 'sandbox' },
    });
    expect(violatedPolicies(violations).filter((name) => PRODUCTION_ONLY.includes(name))).toEqual([]);
  });

  it('skips them for a stack tagged obkit:environment=sandbox', async () => {
    const violations = await runPolicies(await everyProductionViolation(), {
      stackTags: { 'obkit:environment': 'sandbox' },
    });
    expect(violatedPolicies(violations).filter((name) => PRODUCTION_ONLY.includes(name))).toEqual([]);
  });

  it('applies them when nothing says which environment (strict by default)', async () => {
    const violations = await runPolicies(await everyProductionViolation());
    expect(violatedPolicies(violations)).toContain('production-no-mock-register');
    expect(
      violations.find((violation) => violation.policy === 'production-no-mock-register')?.message,
    ).toMatch(/obkit:environment=sandbox/);
  });

  it('lets the policy config override the stack tag', async () => {
    const violations = await runPolicies(await everyProductionViolation(), {
      config: { environment: 'production' },
      stackTags: { 'obkit:environment': 'sandbox' },
    });
    expect(violatedPolicies(violations)).toContain('production-no-mock-register');
  });
});

/** Runs one rule over objects and returns its messages. */
async function messagesOf(policy: string, objects: object[], config = production.config): Promise<string[]> {
  const rule = obkitPolicies.filter((candidate) => candidate.name === policy);
  return (await runPolicies(resources(objects), { config, policies: rule })).map(
    (violation) => violation.message,
  );
}

describe('containers-run-as-non-root', () => {
  it('rejects a container whose user is left to the image', async () => {
    const [gateway] = [deployment('gateway')];
    delete gateway!.spec.template.spec.securityContext;
    delete containerOf([gateway!], 'obkit-gateway').securityContext.runAsNonRoot;
    delete containerOf([gateway!], 'obkit-gateway').securityContext.runAsUser;
    expect(await messagesOf('containers-run-as-non-root', [gateway!])).toEqual([
      "container 'gateway' may run as root: set runAsNonRoot: true and runAsUser.",
    ]);
  });

  it('checks init containers and accepts a pod-level non-root user', async () => {
    const gateway = deployment('gateway');
    const main = containerOf([gateway], 'obkit-gateway');
    delete main.securityContext.runAsNonRoot;
    delete main.securityContext.runAsUser;
    gateway.spec.template.spec.initContainers = [
      { ...structuredClone(main), name: 'migrate', securityContext: { runAsUser: 0 } },
    ];
    expect(await messagesOf('containers-run-as-non-root', [gateway])).toEqual([
      "container 'migrate' runs as root (runAsUser: 0).",
    ]);
  });
});

describe('images-pinned', () => {
  it.each([
    ['ghcr.io/obkit/obkit:0.1.0', undefined],
    [`ghcr.io/obkit/obkit@sha256:${'a'.repeat(64)}`, undefined],
    ['registry.local:5000/obkit:1.2', undefined],
    ['registry.local:5000/obkit', "image 'registry.local:5000/obkit' has no tag (resolves to latest)"],
    ['obkit', "image 'obkit' has no tag (resolves to latest)"],
    ['obkit:latest', "image 'obkit:latest' uses the moving tag 'latest'"],
  ])('%s', (image, reason) => {
    expect(unpinnedReason(image)).toBe(reason);
  });
});

describe('credentials-only-in-secrets', () => {
  it('rejects a private key, a database URL with a password and a password assignment in a ConfigMap', async () => {
    const toml = `${PRODUCTION_TOML}\n[obkit.database]\nurl = "postgres://obkit:hunter2@db:5432/obkit"\n`;
    const configMap = obkitConfigMap(toml.replace('password = ""', 'password = "hunter2"'));
    configMap.data['server.key'] = '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n';
    const messages = await messagesOf('credentials-only-in-secrets', [configMap]);
    expect(messages).toEqual(
      expect.arrayContaining([
        "ConfigMap key 'obkit.toml' contains a URL with a password; put it in a Secret.",
        "ConfigMap key 'obkit.toml' sets 'password'; put the value in a Secret.",
        "ConfigMap key 'server.key' contains a PEM private key; put it in a Secret.",
      ]),
    );
  });

  it('rejects a database URL with a password as an env literal, whatever its name', async () => {
    const gateway = deployment('gateway');
    containerOf([gateway], 'obkit-gateway').env.push({
      name: 'DATABASE_URL',
      value: 'postgres://u:p@db/obkit',
    });
    expect(await messagesOf('credentials-only-in-secrets', [gateway])).toEqual([
      "container 'gateway' env DATABASE_URL holds a URL with a password; use valueFrom.secretKeyRef.",
    ]);
  });

  it('accepts empty credential keys, file paths to credentials and names that only contain a credential word', async () => {
    const configMap = obkitConfigMap(
      '[oauth]\ntoken_endpoint = "https://is:9446/oauth2/token"\npassword = ""\n',
    );
    const gateway = deployment('gateway');
    containerOf([gateway], 'obkit-gateway').env.push({
      name: 'OBKIT__OBKIT__TLS__PRIVATE_KEY',
      value: '/etc/obkit/tls/tls.key',
    });
    expect(await messagesOf('credentials-only-in-secrets', [configMap, gateway])).toEqual([]);
  });
});

describe('only-gateway-exposed', () => {
  it('rejects an Ingress that is not the gateway and host ports outside the gateway', async () => {
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'obkit-api-manager', labels: labels('api-manager') },
      spec: { rules: [] },
    };
    const apiManager = deployment('api-manager');
    containerOf([apiManager], 'obkit-api-manager').ports[0].hostPort = 9443;
    expect(await messagesOf('only-gateway-exposed', [ingress, apiManager])).toEqual([
      "Ingress 'obkit-api-manager' is not the gateway's.",
      "container 'api-manager' of Deployment 'obkit-api-manager' binds a host port.",
    ]);
  });
});

describe('pdb-for-replicated-workloads', () => {
  it('counts the replicas an autoscaler may add', async () => {
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'obkit-identity-server', namespace: 'obkit' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'obkit-identity-server' },
        minReplicas: 1,
        maxReplicas: 4,
      },
    };
    const objects = [deployment('identity-server'), hpa];
    expect(await messagesOf('pdb-for-replicated-workloads', objects)).toHaveLength(1);
    expect(
      await messagesOf('pdb-for-replicated-workloads', [...objects, podDisruptionBudget('identity-server')]),
    ).toEqual([]);
  });

  it('does not accept a budget of another component', async () => {
    const objects = [deployment('identity-server', 3), podDisruptionBudget('gateway')];
    expect(await messagesOf('pdb-for-replicated-workloads', objects)).toHaveLength(1);
  });
});

describe('production-no-sandbox-ca', () => {
  it('rejects obkit configured in sandbox mode and Secrets labelled as sandbox PKI', async () => {
    const configMap = obkitConfigMap(PRODUCTION_TOML.replace('mode = "production"', 'mode = "sandbox"'));
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'obkit-server-tls', labels: { 'pki.obkit.io/origin': 'sandbox' } },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': await sandboxCaPem() },
    };
    const messages = await messagesOf('production-no-sandbox-ca', [configMap, secret]);
    expect(messages).toEqual([
      expect.stringMatching(/^ConfigMap 'obkit-config' \(obkit\.toml\) configures obkit in sandbox mode/),
      expect.stringMatching(/^Secret 'obkit-server-tls' is sandbox PKI/),
      expect.stringMatching(/^Secret 'obkit-server-tls' key 'tls\.crt' holds a sandbox certificate/),
    ]);
  });

  it('rejects a pod mounting a Secret named as the sandbox CA', async () => {
    const gateway = deployment('gateway');
    gateway.spec.template.spec.volumes[0].secret.secretName = 'obkit-sandbox-ca';
    expect(await messagesOf('production-no-sandbox-ca', [gateway])).toEqual([
      expect.stringMatching(/^Deployment 'obkit-gateway' mounts 'obkit-sandbox-ca'/),
    ]);
  });
});

describe('production rules over the Pulumi Helm Chart resource', () => {
  const chart = (values: object): Resource => ({
    type: 'kubernetes:helm.sh/v4:Chart',
    name: 'obkit',
    urn: 'urn:pulumi:production::obkit::kubernetes:helm.sh/v4:Chart::obkit',
    props: { chart: '/srv/obkit/charts/obkit', values },
  });

  it('rejects chart values that enable mock-register or private addresses', async () => {
    const values = { mockRegister: { enabled: true }, config: { allowPrivateAddresses: true } };
    const violations = await runPolicies([chart(values)], production);
    expect(violatedPolicies(violations)).toEqual([
      'production-no-mock-register',
      'production-no-private-addresses',
    ]);
  });

  it('accepts production chart values', async () => {
    const values = { mockRegister: { enabled: false }, config: { allowPrivateAddresses: false } };
    expect(await runPolicies([chart(values)], production)).toEqual([]);
  });
});
