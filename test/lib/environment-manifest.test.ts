import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidManifestError, parseEnvironmentManifest } from '../../lib/config/environment-manifest.ts';
import { resolveTarget } from '../../scripts/lib/target.ts';

// A manifest as the chart or stack writes it for its Jobs.
const cluster = () => ({
  name: 'obkit',
  mode: 'sandbox',
  namespace: 'obkit',
  services: {
    identityServer: { url: 'https://obkit-identity-server:9446' },
    apiManager: { url: 'https://obkit-api-manager:9443' },
    gateway: { url: 'https://obkit-gateway:8243' },
  },
  publicGatewayUrl: 'https://cdr.bank.example:8243',
  tls: { caBundle: '/etc/obkit/server-ca/ca.crt', truststore: '/etc/obkit/truststore/ca-bundle.pem' },
  admin: { usernameEnv: 'OBKIT__OBKIT__ADMIN__USERNAME', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
});

// A manifest as `obkit up` writes it.
const local = () => ({
  version: 1,
  target: 'native',
  mode: 'sandbox',
  gateway: { url: 'https://localhost:8243', vhost: 'localhost' },
  identityServer: { url: 'https://localhost:9446', issuer: 'https://localhost:9446/oauth2/token' },
  apiManager: { url: 'https://localhost:9443' },
  pki: { caCertificate: '/state/pki/ca-bundle.pem' },
  truststore: { format: 'pem', path: '/state/truststore.pem' },
  admin: { username: 'admin', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
});

describe('the environment manifest schema', () => {
  it("reads the cluster shape into the scripts' shape", () => {
    const manifest = parseEnvironmentManifest(cluster(), '/tmp', 'given', {});
    expect(manifest).toEqual({
      version: 1,
      target: 'kubernetes',
      mode: 'sandbox',
      gateway: { url: 'https://obkit-gateway:8243', vhost: 'cdr.bank.example' },
      identityServer: {
        url: 'https://obkit-identity-server:9446',
        issuer: 'https://obkit-identity-server:9446/oauth2/token',
      },
      apiManager: { url: 'https://obkit-api-manager:9443' },
      pki: { caCertificate: '/etc/obkit/server-ca/ca.crt' },
      truststore: { format: 'pem', path: '/etc/obkit/truststore/ca-bundle.pem' },
      admin: { username: 'admin', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
    });
  });

  it("reads `obkit up`'s shape, its state directory defaulting to the manifest's own", () => {
    expect(parseEnvironmentManifest(local(), '/state').stateDir).toBe('/state');
  });

  it('refuses a cluster manifest without a gateway, naming the field', () => {
    const bad = cluster();
    // @ts-expect-error: the field a bad manifest lacks.
    delete bad.services.gateway;
    expect(() => parseEnvironmentManifest(bad, '/tmp', 'env.json')).toThrow(InvalidManifestError);
    expect(() => parseEnvironmentManifest(bad, '/tmp', 'env.json')).toThrow(
      /^environment manifest env\.json: services\.gateway: /,
    );
  });

  it('refuses a manifest of another version or a truststore of an unknown format, naming the field', () => {
    expect(() => parseEnvironmentManifest({ ...local(), version: 2 }, '/tmp')).toThrow(/: version: /);
    const truststore = { format: 'bks', path: '/x' };
    expect(() => parseEnvironmentManifest({ ...local(), truststore }, '/tmp')).toThrow(
      /: truststore\.format: /,
    );
  });
});

describe('a bad manifest file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'obkit-manifest-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is refused where it is read, with the file and the field it got wrong', async () => {
    const file = join(dir, 'environment.json');
    const { apiManager: _apiManager, ...bad } = local();
    await writeFile(file, JSON.stringify(bad));
    await expect(resolveTarget({ environment: file }, {})).rejects.toThrow(
      `environment manifest ${file}: apiManager: `,
    );
  });
});
