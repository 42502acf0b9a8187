import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  ensureSandboxPki,
  issueCertificate,
  issueSandboxClientCertificate,
  splitPemBundle,
} from '../../lib/pki/index.ts';

const read = async (path: string) => new X509Certificate(await readFile(path));

describe('sandbox PKI', () => {
  it('chains root → issuing CA → server and client certificates with the right names and usages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-pki-'));
    const pki = await ensureSandboxPki(dir, { hostnames: ['gateway.obkit.local', '10.0.0.7'] });
    const root = await read(pki.rootCaCertificate);
    const issuing = await read(pki.issuingCaCertificate);
    const [serverLeaf, serverChain] = splitPemBundle(await readFile(pki.serverCertificate, 'utf8'));
    const server = new X509Certificate(serverLeaf!);
    expect(root.ca && issuing.ca).toBe(true);
    expect(issuing.checkIssued(root) && issuing.verify(root.publicKey)).toBe(true);
    expect(server.verify(issuing.publicKey)).toBe(true);
    expect(new X509Certificate(serverChain!).fingerprint256).toBe(issuing.fingerprint256);
    expect(server.checkHost('gateway.obkit.local')).toBe('gateway.obkit.local');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(server.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    // The FAPI TLS 1.2 suites are RSA-authenticated: the server key is RSA-2048.
    expect(server.publicKey.asymmetricKeyType).toBe('rsa');
    expect(server.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);

    const client = await read(pki.clientCertificate);
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(client.verify(issuing.publicKey)).toBe(true);

    const gateway = await read(pki.gatewayInternalCertificate);
    const internal = await read(pki.internalCaCertificate);
    expect(gateway.subject).toContain('CN=obkit-gateway');
    expect(gateway.verify(internal.publicKey)).toBe(true);
    expect(gateway.verify(issuing.publicKey)).toBe(false);
    expect(splitPemBundle(await readFile(pki.truststore, 'utf8'))).toHaveLength(2);
    for (const key of [pki.rootCaKey, pki.issuingCaKey, pki.serverKey, pki.clientKey, pki.internalCaKey]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
  });

  it('reuses what exists and re-issues only a server certificate that lacks a requested name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-pki-'));
    const first = await ensureSandboxPki(dir);
    const before = {
      root: await readFile(first.rootCaCertificate, 'utf8'),
      server: await readFile(first.serverCertificate, 'utf8'),
      client: await readFile(first.clientCertificate, 'utf8'),
    };
    await ensureSandboxPki(dir);
    expect(await readFile(first.serverCertificate, 'utf8')).toBe(before.server);
    await ensureSandboxPki(dir, { hostnames: ['obkit-gateway.obkit.svc'] });
    expect(await readFile(first.rootCaCertificate, 'utf8')).toBe(before.root);
    expect(await readFile(first.clientCertificate, 'utf8')).toBe(before.client);
    const server = await read(first.serverCertificate);
    expect(server.checkHost('obkit-gateway.obkit.svc')).toBe('obkit-gateway.obkit.svc');
  });

  it('replaces a P-256 server certificate left by an older obkit, keeping the CAs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-pki-'));
    const pki = await ensureSandboxPki(dir);
    const root = await readFile(pki.rootCaCertificate, 'utf8');
    // What obkit issued before the FAPI profile: the same names on an ECDSA P-256 key.
    await writeFile(pki.serverCertificate, await p256ServerCertificate(['localhost', '127.0.0.1', '::1']));
    const old = await read(pki.serverCertificate);
    expect(old.publicKey.asymmetricKeyType).toBe('ec');
    expect(old.checkHost('localhost') && old.checkIP('::1')).toBeTruthy();
    await ensureSandboxPki(dir);
    expect((await read(pki.serverCertificate)).publicKey.asymmetricKeyType).toBe('rsa');
    expect(await readFile(pki.rootCaCertificate, 'utf8')).toBe(root);
  });

  it('issues further client transport certificates from the sandbox issuing CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-pki-'));
    const pki = await ensureSandboxPki(dir);
    const issued = await issueSandboxClientCertificate(dir, 'adr-two');
    const leaf = new X509Certificate(splitPemBundle(issued.certificatePem)[0]!);
    expect(leaf.subject).toContain('CN=adr-two');
    expect(leaf.verify((await read(pki.issuingCaCertificate)).publicKey)).toBe(true);
  });

  it('does not chain a certificate from a foreign CA to the sandbox CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'obkit-pki-'));
    const pki = await ensureSandboxPki(dir);
    const foreign = await createCertificateAuthority('foreign CA');
    const rogue = await issueCertificate(foreign, { commonName: 'obkit-sandbox-adr', usage: 'client' });
    expect(
      new X509Certificate(rogue.certificatePem).verify((await read(pki.issuingCaCertificate)).publicKey),
    ).toBe(false);
  });
});

async function p256ServerCertificate(names: string[]): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=obkit services',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => (isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name })),
      ),
    ],
  });
  return certificate.toString('pem');
}
