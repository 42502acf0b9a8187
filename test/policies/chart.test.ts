import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, helmTemplate } from '../support/helm.ts';
import { resourceFromObject, runPolicies, violatedPolicies } from '../support/policies.ts';

// The policy pack over the chart as `helm template` renders it: the same rules a `pulumi preview
// --policy-pack policies` applies to the chart's objects once kubernetes.helm.v4.Chart expands them.

const productionValues = path.join(chartDir, 'ci/production-values.yaml');
const sandboxValues = path.join(chartDir, 'ci/sandbox-values.yaml');
const insecureValues = path.resolve(import.meta.dirname, '../charts/fixtures/insecure-values.yaml');

async function render(valuesFiles: string[], setArgs: string[] = []) {
  const objects = await helmTemplate(valuesFiles, setArgs);
  expect(objects.length).toBeGreaterThan(0);
  return objects.map((object) => resourceFromObject(object));
}

describe('obkit chart under the policy pack', () => {
  it('passes every rule with the production values', async () => {
    const resources = await render([productionValues]);
    expect(resources.map((resource) => resource.type)).toEqual(
      expect.arrayContaining([
        'kubernetes:apps/v1:Deployment',
        'kubernetes:networking.k8s.io/v1:NetworkPolicy',
      ]),
    );
    expect(await runPolicies(resources, { config: { environment: 'production' } })).toEqual([]);
  });

  it('passes every rule with the sandbox values in a sandbox stack', async () => {
    const resources = await render([sandboxValues]);
    expect(await runPolicies(resources, { config: { environment: 'sandbox' } })).toEqual([]);
  });

  it('fails the production rules with the sandbox values in a production stack', async () => {
    const violations = await runPolicies(await render([sandboxValues]), {
      config: { environment: 'production' },
    });
    expect(violatedPolicies(violations)).toEqual([
      'production-gateway-replicas',
      'production-no-mock-register',
      'production-no-private-addresses',
      'production-no-sandbox-ca',
    ]);
  });

  it('fails the named rules with the deliberately insecure production values', async () => {
    const violations = await runPolicies(await render([insecureValues]), {
      config: { environment: 'production' },
    });
    expect(violatedPolicies(violations)).toEqual([
      'containers-no-privilege-escalation',
      'containers-run-as-non-root',
      'credentials-only-in-secrets',
      'network-policy-per-component',
      'only-gateway-exposed',
      'production-gateway-replicas',
    ]);
    const messages = violations.map((violation) => violation.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        "container 'identity-server' env OBKIT__OBKIT__ADMIN__PASSWORD holds a credential literal; use valueFrom.secretKeyRef.",
        expect.stringMatching(
          /^Service 'obkit-obkit-identity-server' \(component identity-server\) is of type LoadBalancer/,
        ),
        expect.stringMatching(/^Deployment 'obkit-obkit-gateway' runs 1 gateway replica/),
      ]),
    );
  });
});
