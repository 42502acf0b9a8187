import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  ensureSandboxPki,
  type IssuedCertificate,
  issueCertificate,
  type SandboxPki,
} from '../../lib/pki/index.ts';

/**
 * A sandbox PKI in a temporary directory (lib/pki's `ensureSandboxPki`), plus client certificates on
 * demand: trusted ones from the sandbox issuing CA, internal ones from the internal CA, and ones from a
 * CA nobody trusts.
 */
export interface TestPki extends SandboxPki {
  /** A transport certificate from the sandbox issuing CA (in the truststore). */
  issueClient(commonName?: string): Promise<IssuedCertificate>;
  /** A client certificate from a CA that is in no truststore. */
  issueUntrustedClient(commonName?: string): Promise<IssuedCertificate>;
  /** A client certificate from the internal CA (e.g. CN=obkit-gateway, or any other internal name). */
  issueInternalClient(commonName: string): Promise<IssuedCertificate>;
  /** A certificate from the sandbox issuing CA (trusted) that breaks one client-certificate rule. */
  issueNonconformingClient(shape: NonconformingShape): Promise<IssuedCertificate>;
  /** The sandbox CA bundle, to trust the services' server certificate. */
  ca: string;
  cleanup(): Promise<void>;
}

let untrusted: Promise<CertificateAuthority> | undefined;
let counter = 0;

/** `dir` defaults to a new temporary directory, removed by `cleanup()`. */
export async function createTestPki(dir?: string): Promise<TestPki> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'obkit-pki-')));
  const pki = await ensureSandboxPki(root);
  const issuing: CertificateAuthority = {
    certificatePem: await readFile(pki.issuingCaCertificate, 'utf8'),
    keyPem: await readFile(pki.issuingCaKey, 'utf8'),
  };
  const internal: CertificateAuthority = {
    certificatePem: await readFile(pki.internalCaCertificate, 'utf8'),
    keyPem: await readFile(pki.internalCaKey, 'utf8'),
  };
  untrusted ??= createCertificateAuthority('obkit test untrusted CA');
  const name = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;
  return {
    ...pki,
    ca: await readFile(pki.caBundle, 'utf8'),
    issueClient: (commonName) =>
      issueCertificate(issuing, { commonName: commonName ?? name('test-adr'), usage: 'client' }),
    issueUntrustedClient: async (commonName) =>
      issueCertificate(await untrusted!, { commonName: commonName ?? name('untrusted'), usage: 'client' }),
    issueInternalClient: (commonName) => issueCertificate(internal, { commonName, usage: 'client' }),
    issueNonconformingClient: (shape) => issueNonconformingCertificate(issuing, name(shape.name), shape),
    cleanup: async () => {
      if (!dir) await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The shape of a trusted certificate that a transport certificate must not have: `extendedKeyUsages`
 * (OIDs; `null` for no EKU extension at all), `keyUsages` (x509.KeyUsageFlags), `validDays` (negative:
 * already expired).
 */
export interface NonconformingShape {
  name: string;
  extendedKeyUsages?: string[] | null;
  keyUsages?: number;
  validDays?: number;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Issued with @peculiar/x509 directly: lib/pki only issues well-formed server and client certificates. */
export async function issueNonconformingCertificate(
  ca: CertificateAuthority,
  commonName: string,
  shape: NonconformingShape,
): Promise<IssuedCertificate> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    Buffer.from(ca.keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
    EC,
    false,
    ['sign'],
  );
  const days = shape.validDays ?? 30;
  const edge = Date.now() + days * 86_400_000;
  const extendedKeyUsages =
    shape.extendedKeyUsages === undefined ? [x509.ExtendedKeyUsage.clientAuth] : shape.extendedKeyUsages;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: webcrypto.randomUUID().replaceAll('-', ''),
    subject: `CN=${commonName}, O=obkit test`,
    issuer: new x509.X509Certificate(ca.certificatePem).subject,
    notBefore: new Date(Math.min(Date.now() - 60_000, edge - 86_400_000)),
    notAfter: new Date(edge),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.KeyUsagesExtension(shape.keyUsages ?? x509.KeyUsageFlags.digitalSignature, true),
      ...(extendedKeyUsages ? [new x509.ExtendedKeyUsageExtension(extendedKeyUsages, false)] : []),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return {
    certificatePem: `${certificate.toString('pem')}\n${ca.certificatePem}`,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trim()}\n-----END PRIVATE KEY-----\n`,
  };
}
