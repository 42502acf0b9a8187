// Values a user could plausibly get wrong must stop `helm install` with a message naming the key,
// instead of deploying something unsafe or something the services refuse at start-up.
import { describe, expect, it } from 'vitest';
import { helm, templateArgs } from '../support/helm.ts';

async function render(setArgs: string[], valuesFiles: string[] = []) {
  return helm(templateArgs(valuesFiles, setArgs));
}

const production = ['global.mode=production', 'database.existingSecret=obkit-database'];

describe('values the chart refuses', () => {
  it('accepts the defaults and a complete production set (control for the refusals below)', async () => {
    expect((await render([])).code).toBe(0);
    expect((await render(production)).code).toBe(0);
  });

  it.each([
    ['an unknown top-level key', ['replicas=3'], "additional properties 'replicas' not allowed"],
    ['an unknown nested key', ['gateway.replicas=3'], "additional properties 'replicas' not allowed"],
    [
      'an unknown key in a security context',
      ['containerSecurityContext.runAsRoot=true'],
      "additional properties 'runAsRoot' not allowed",
    ],
    ['image tag "latest"', ['image.tag=latest'], '/image/tag'],
    ['an empty image tag', ['image.tag='], '/image/tag'],
    ['a malformed image digest', ['image.digest=sha256:abc'], '/image/digest'],
    ['an unknown mode', ['global.mode=staging'], '/global/mode'],
    [
      'a resource quantity that is not one',
      ['gateway.resources.limits.memory=lots'],
      '/gateway/resources/limits',
    ],
    ['resources without limits', ['identityServer.resources.limits=null'], '/identityServer/resources'],
    ['an invalid Secret name', ['tls.serverSecret=Server_TLS'], '/tls/serverSecret'],
    ['an unknown gateway Service type', ['gateway.service.type=ExternalName'], '/gateway/service/type'],
  ])('refuses %s', async (_name, setArgs, message) => {
    const result = await render(setArgs);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it('refuses the mock-register in production', async () => {
    const result = await render([...production, 'mockRegister.enabled=true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/mockRegister/enabled');
    // The same value is fine in a sandbox.
    expect((await render(['mockRegister.enabled=true'])).code).toBe(0);
  });

  it('refuses the banking data API in production', async () => {
    const result = await render([...production, 'banking.enabled=true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/banking/enabled');
    expect((await render(['banking.enabled=true'])).code).toBe(0);
  });

  it('refuses the production-unsafe values in the templates too, for renderers that skip the schema', async () => {
    const withoutSchema = (setArgs: string[]) =>
      helm([...templateArgs([], setArgs), '--skip-schema-validation']);
    const cases: [string[], string][] = [
      [
        [...production, 'mockRegister.enabled=true'],
        'mockRegister.enabled: the mock CDR Register is sandbox-only',
      ],
      [
        [...production, 'banking.enabled=true'],
        'banking.enabled: the CDS Banking data API serves fixed sandbox accounts',
      ],
      [
        [...production, 'config.allowPrivateAddresses=true'],
        'config.allowPrivateAddresses: outbound fetches',
      ],
      [['global.mode=production'], 'database.existingSecret: production needs a PostgreSQL server'],
    ];
    for (const [setArgs, message] of cases) {
      const result = await withoutSchema(setArgs);
      expect(result.code, message).not.toBe(0);
      expect(result.stderr).toContain(message);
    }
    expect((await withoutSchema(production)).code).toBe(0);
  });

  it('refuses private-address fetches in production', async () => {
    const result = await render([...production, 'config.allowPrivateAddresses=true']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/config/allowPrivateAddresses');
  });

  it('refuses production without a database Secret', async () => {
    const result = await render(['global.mode=production']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('/database/existingSecret');
  });

  it('refuses more than one stateful replica on the per-pod embedded database', async () => {
    const result = await render(['identityServer.replicaCount=2']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('database.existingSecret: more than one identity-server');
    expect((await render(['identityServer.replicaCount=2', 'database.existingSecret=db'])).code).toBe(0);
  });

  it('refuses config.toml that redefines a table the chart generates', async () => {
    for (const table of ['[obkit]', '[obkit.tls]', '[ obkit.admin ]']) {
      const result = await render([`config.toml=${table}\nx = 1`]);
      expect(result.code, table).not.toBe(0);
      expect(result.stderr).toContain('config.toml: the chart generates the [obkit...] tables');
    }
    expect((await render(['config.toml=[open_banking_cds.dcr]\nenable_uri_validation = true'])).code).toBe(0);
  });

  it('refuses a gateway autoscaler with minReplicas above maxReplicas or no metric', async () => {
    const autoscaled = ['gateway.autoscaling.enabled=true'];
    const inverted = await render([
      ...autoscaled,
      'gateway.autoscaling.minReplicas=5',
      'gateway.autoscaling.maxReplicas=3',
    ]);
    expect(inverted.stderr).toContain('minReplicas is greater than maxReplicas');
    const noMetric = await render([...autoscaled, 'gateway.autoscaling.targetCPUUtilizationPercentage=null']);
    expect(noMetric.stderr).toContain(
      'set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage',
    );
  });
});
