import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadStackConfig } from '../../stacks/config.ts';

// Stack configuration is validated before any resource exists: a production stack without its
// secrets, or with a single gateway, stops `pulumi up` with the key to fix.

const CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

const production: Record<string, string> = {
  'obkit:environment': 'production',
  'obkit:hostname': 'cdr.bank.example',
  'obkit:kubeContext': 'cdr-production',
  'obkit:database': 'external',
  'obkit:databaseUrl': 'postgres://obkit:pw@db:5432/obkit',
  'obkit:adminPassword': 'admin-password',
  'obkit:encryptionKey': Buffer.alloc(32, 7).toString('base64'),
  'obkit:dcrBackendPassword': 'dcr-backend-password',
  'obkit:caCertificates': CERTIFICATE,
  'obkit:serverCertificate': CERTIFICATE,
  'obkit:serverPrivateKey': '-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n',
};
const productionSecrets = [
  'obkit:databaseUrl',
  'obkit:adminPassword',
  'obkit:encryptionKey',
  'obkit:dcrBackendPassword',
  'obkit:serverPrivateKey',
];

function load(config: Record<string, string>, secretKeys = productionSecrets) {
  pulumi.runtime.setAllConfig(config, secretKeys);
  return loadStackConfig(new pulumi.Config('obkit'));
}

function without(key: string): Record<string, string> {
  const { [`obkit:${key}`]: _removed, ...rest } = production;
  return rest;
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
    'obkit',
    'config',
    false,
  );
});

describe('stack config', () => {
  it('accepts a complete production configuration and keeps its secrets secret', async () => {
    const config = load(production);
    expect(config.environment).toBe('production');
    expect(config.replicas.gateway).toBe(2);
    expect(await pulumi.isSecret(config.admin.password!)).toBe(true);
    expect(await pulumi.isSecret(config.dcrBackend.password!)).toBe(true);
    expect(await pulumi.isSecret(config.pki!.serverPrivateKey)).toBe(true);
    expect(await pulumi.isSecret(config.database.url!)).toBe(true);
    expect(await pulumi.isSecret(config.encryptionKey!)).toBe(true);
  });

  it.each([
    ['adminPassword', /obkit:adminPassword: required in production/],
    ['encryptionKey', /obkit:encryptionKey: required in production.*openssl rand -base64 32/],
    ['dcrBackendPassword', /obkit:dcrBackendPassword: required in production: the gateway's own credential/],
    ['serverPrivateKey', /serverPrivateKey/],
    ['caCertificates', /caCertificates/],
    ['databaseUrl', /databaseUrl/],
    ['hostname', /hostname/],
    [
      'kubeContext',
      /obkit:kubeContext: required in production, so `pulumi up` never deploys to whatever kubectl context is current/,
    ],
  ])('refuses production without %s', (key, message) => {
    expect(() => load(without(key))).toThrow(message);
  });

  it('refuses a single gateway in production, a moving image tag and an unknown environment', () => {
    expect(() => load({ ...production, 'obkit:gatewayReplicas': '1' })).toThrow(
      /obkit:gatewayReplicas: production runs at least 2 gateway replicas/,
    );
    expect(() => load({ ...production, 'obkit:imageTag': 'latest' })).toThrow(/obkit:imageTag/);
    expect(() => load({ ...production, 'obkit:environment': 'staging' })).toThrow(
      /obkit:environment: must be one of sandbox, production/,
    );
    expect(() => load({ ...production, 'obkit:gatewayMaxReplicas': '1' })).toThrow(
      /obkit:gatewayMaxReplicas/,
    );
  });

  it('needs neither PKI nor passwords in a sandbox, which generates them', () => {
    const config = load({ 'obkit:environment': 'sandbox', 'obkit:hostname': 'sandbox.example' }, []);
    expect(config.pki).toBeUndefined();
    expect(config.admin.password).toBeUndefined();
    expect(config.encryptionKey).toBeUndefined();
    expect(config.dcrBackend.password).toBeUndefined();
    expect(config.database).toMatchObject({ mode: 'cloudnative-pg', instances: 1 });
  });

  it('refuses a gateway node port outside the node port range and extra CAs that are not PEM', () => {
    expect(() => load({ ...production, 'obkit:gatewayNodePort': '8243' })).toThrow(/obkit:gatewayNodePort/);
    expect(load({ ...production, 'obkit:gatewayNodePort': '30243' }).gatewayNodePort).toBe(30243);
    expect(() => load({ ...production, 'obkit:extraCaCertificates': 'not pem' })).toThrow(
      /obkit:extraCaCertificates/,
    );
  });

  it('falls back to exactly the defaults Pulumi.yaml declares, of the declared types', () => {
    const project = parse(readFileSync(path.join(import.meta.dirname, '../../Pulumi.yaml'), 'utf8')) as {
      config: Record<string, { type: string; default?: unknown }>;
    };
    const declared = Object.entries(project.config).filter(([, schema]) => schema.default !== undefined);
    expect(declared.length).toBeGreaterThan(20);
    for (const [key, schema] of declared) {
      const matches = {
        string: typeof schema.default === 'string',
        integer: Number.isInteger(schema.default),
        boolean: typeof schema.default === 'boolean',
      };
      expect(matches[schema.type as keyof typeof matches], key).toBe(true);
    }
    const required = { 'obkit:environment': 'sandbox', 'obkit:hostname': 'sandbox.example' };
    const withDefaults = Object.fromEntries(
      declared.map(([key, schema]) => [`obkit:${key}`, String(schema.default)]),
    );
    expect(load({ ...withDefaults, ...required }, [])).toEqual(load(required, []));
  });
});
