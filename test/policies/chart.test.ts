import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, helmTemplate } from '../support/helm.ts';
import { resourceFromObject, runPolicies, violatedPolicies } from './support.ts';

// The policy pack over the chart as `helm template` renders it: the same rules a `pulumi preview
// --policy-pack policies` applies to the chart's objects once kubernetes.helm.v4.Chart expands them.

const productionValues = path.join(chartDir, 'ci/production-values.yaml');
const sandboxValues = path.join(chartDir, 'ci/sandbox-values.yaml');

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
});
