import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/config/index.ts';
import { createService, type Service } from '../../../lib/http/service.ts';
import { FAPI_TLS12_CIPHERS, serverKeyProblem } from '../../../lib/http/tls-profile.ts';
import { ensureSandboxPki, type SandboxPki } from '../../../lib/pki/index.ts';
import { handshake, NON_FAPI_TLS12_CIPHERS, renegotiate } from '../../support/tls-probe.ts';

let dir: string;
let pki: SandboxPki;
let service: Service;
const ports: Record<string, number> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-tls-profile-'));
  pki = await ensureSandboxPki(join(dir, 'pki'));
  service = createService({
    name: 'profile',
    logLevel: 'silent',
    tls: { certificate: pki.serverCertificate, privateKey: pki.serverKey, requestCert: true },
    managementPort: 0,
  });
  service.app.get('/', async () => ({ ok: true }));
  ports.public = await service.listen(0, '127.0.0.1');
  ports.management = service.managementPort;
});

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(['public', 'management'])('the %s listener speaks the CDS/FAPI TLS profile', (listener) => {
  it.each(FAPI_TLS12_CIPHERS)('TLS 1.2 with only %s: accepted', async (cipher) => {
    const result = await handshake(ports[listener]!, { maxVersion: 'TLSv1.2', ciphers: cipher });
    expect(result).toEqual({ protocol: 'TLSv1.2', cipher });
  });

  it('TLS 1.2 offering the four FAPI suites together: accepted', async () => {
    const result = await handshake(ports[listener]!, {
      maxVersion: 'TLSv1.2',
      ciphers: FAPI_TLS12_CIPHERS.join(':'),
    });
    expect(FAPI_TLS12_CIPHERS).toContain(result.cipher);
  });

  it.each(NON_FAPI_TLS12_CIPHERS)('TLS 1.2 with only %s: refused', async (cipher) => {
    await expect(handshake(ports[listener]!, { maxVersion: 'TLSv1.2', ciphers: cipher })).rejects.toThrow(
      /handshake failure|no shared cipher|alert/i,
    );
  });

  it('TLS 1.2 offering every other suite OpenSSL knows: refused', async () => {
    const others = `ALL:!${FAPI_TLS12_CIPHERS.join(':!')}`;
    await expect(handshake(ports[listener]!, { maxVersion: 'TLSv1.2', ciphers: others })).rejects.toThrow(
      /handshake failure|alert/i,
    );
  });

  it('TLS 1.3: accepted', async () => {
    const result = await handshake(ports[listener]!, {
      minVersion: 'TLSv1.3',
      ca: readFileSync(pki.caBundle, 'utf8'),
    });
    expect(result.protocol).toBe('TLSv1.3');
  });

  it('client-initiated renegotiation: refused', async () => {
    const refusal = await renegotiate(ports[listener]!, { ciphers: FAPI_TLS12_CIPHERS[0] });
    expect(refusal?.message).toMatch(/no renegotiation|closed/i);
  });
});

describe('server keys', () => {
  const ecKey = () =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });

  it('accepts the sandbox RSA-2048 key and names what is wrong with EC or small RSA keys', () => {
    expect(serverKeyProblem(readFileSync(pki.serverKey))).toBeUndefined();
    expect(serverKeyProblem(ecKey())).toMatch(/EC \(prime256v1\) key cannot serve the FAPI TLS 1.2 suites/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expect(serverKeyProblem(small.export({ type: 'pkcs8', format: 'pem' }))).toMatch(
      /1024 bits is too small/,
    );
  });

  it('a strict (production) service refuses to start with an EC key, naming the key', async () => {
    const keyFile = join(dir, 'ec-server.key');
    await writeFile(keyFile, ecKey(), { mode: 0o600 });
    const start = () =>
      createService({
        name: 'strict',
        logLevel: 'silent',
        tls: { certificate: pki.serverCertificate, privateKey: keyFile, strictServerKey: true },
        managementPort: 0,
      });
    expect(start).toThrow(ConfigError);
    expect(start).toThrow(`invalid configuration: obkit.tls.private_key: ${keyFile}: an EC (prime256v1) key`);
  });
});
