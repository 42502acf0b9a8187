import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../lib/config/index.ts';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { createMockRegister, ProductionModeError } from '../../services/mock-register/server.ts';
import { forgeSoftwareStatement, seedSoftwareProduct, startMockRegister } from '../support/register.ts';

const MAIN = join(import.meta.dirname, '../../services/mock-register/main.ts');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-mock-register-lifecycle-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sandboxConfig(stateDir: string): Promise<Config> {
  const pki = await ensureSandboxPki(join(dir, 'pki'));
  return loadConfig({
    env: {},
    overrides: {
      obkit: {
        state_dir: stateDir,
        log_level: 'silent',
        mock_register: { port: 0 },
        tls: { certificate: pki.serverCertificate, private_key: pki.serverKey, truststore: pki.truststore },
      },
    },
  });
}

describe('mock-register lifecycle', () => {
  it('refuses to start in production mode', async () => {
    const config = await sandboxConfig(join(dir, 'production'));
    const production = { ...config, obkit: { ...config.obkit, mode: 'production' as const } };
    await expect(createMockRegister(production)).rejects.toBeInstanceOf(ProductionModeError);
  });

  it('main.ts exits non-zero with a message naming production mode', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN], {
        env: {
          PATH: process.env.PATH,
          OBKIT__OBKIT__MODE: 'production',
          OBKIT__OBKIT__ALLOW_PRIVATE_ADDRESSES: 'false',
          OBKIT__OBKIT__STATE_DIR: join(dir, 'main-production'),
          OBKIT__OBKIT__MOCK_REGISTER__PORT: '0',
          OBKIT_ADMIN_PASSWORD: 'not-used-because-it-refuses',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/mock-register: .*production/);
  });

  it('keeps its signing key across a restart on the same state directory', async () => {
    const config = await sandboxConfig(join(dir, 'restart'));
    const first = await createMockRegister(config);
    const before = (await first.keys.publishedJwks()).keys.map((key) => key.kid);
    await first.close();
    const second = await createMockRegister(config);
    try {
      expect((await second.keys.publishedJwks()).keys.map((key) => key.kid)).toEqual(before);
      expect(before).toHaveLength(1);
      expect(second.url).toBe(`https://localhost:${second.port}`);
    } finally {
      await second.close();
    }
  });

  it('stops publishing a rotated-out key once its retention period has passed', async () => {
    const register = await startMockRegister({ retiredKeyRetentionSeconds: 0 });
    try {
      const old = (await register.client.getJwks()).keys.map((key) => key.kid);
      const { kid, published } = await register.client.rotateSigningKey();
      expect(published).toEqual([kid]);
      expect(old).not.toContain(kid);
    } finally {
      await register.close();
    }
  });
});

describe('forgeSoftwareStatement (test support)', () => {
  it('signs altered SSA claims with the real Register key, for Data Holder rejection tests', async () => {
    const register = await startMockRegister();
    try {
      const { product } = await seedSoftwareProduct(register, { sectorIdentifier: true });
      expect(product.metadata.sector_identifier_uri).toBe(
        register.client.sectorIdentifierUrl(product.softwareProductId),
      );
      const forged = await forgeSoftwareStatement(register, product, {
        claims: { redirect_uris: ['http://insecure.example/cb'], software_roles: 'someone-else' },
        omit: ['org_name'],
      });
      const { payload } = await jwtVerify(forged, createLocalJWKSet(await register.client.getJwks()), {
        issuer: 'cdr-register',
      });
      expect(payload.redirect_uris).toEqual(['http://insecure.example/cb']);
      expect(payload.software_roles).toBe('someone-else');
      expect(payload).not.toHaveProperty('org_name');
      expect(decodeProtectedHeader(forged).alg).toBe('PS256');
    } finally {
      await register.close();
    }
  });
});
