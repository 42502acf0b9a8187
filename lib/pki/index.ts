import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { MIN_RSA_BITS } from '../http/tls-profile.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * Sandbox PKI with a maintained X.509 library (@peculiar/x509 on WebCrypto). The server certificate has
 * an RSA-2048 key: the FAPI TLS 1.2 suites (lib/http/tls-profile.ts) are all RSA-authenticated. CAs and
 * client certificates are ECDSA P-256 (cheaper to sign with, and CDR accepts either for transport).
 *
 *   recipients' CA:  root CA → issuing CA → server certificate (TLS of every service)
 *                                         → client transport certificates (EKU clientAuth)
 *   internal CA:     a CA of its own → gateway-internal (CN=obkit-gateway, clientAuth) and
 *                    banking-internal (CN=obkit-banking, clientAuth), so no recipient certificate can
 *                    ever pose as the gateway or the banking service.
 */

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SERVER_KEY_ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: MIN_RSA_BITS,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface CertificateAuthority {
  certificatePem: string;
  keyPem: string;
}

export interface IssuedCertificate {
  /** Leaf first, then the issuing chain (without the root). */
  certificatePem: string;
  keyPem: string;
}

export interface SandboxPki {
  dir: string;
  /** Root + issuing CA: what clients trust for the servers and what servers trust for recipients. */
  caBundle: string;
  rootCaCertificate: string;
  rootCaKey: string;
  issuingCaCertificate: string;
  issuingCaKey: string;
  serverCertificate: string;
  serverKey: string;
  /** The hot-reloaded truststore for recipients' certificates; starts as the CA bundle. */
  truststore: string;
  internalCaCertificate: string;
  internalCaKey: string;
  gatewayInternalCertificate: string;
  gatewayInternalKey: string;
  /** The banking service's client certificate towards the identity server's internal endpoint. */
  bankingInternalCertificate: string;
  bankingInternalKey: string;
  /** A transport certificate for the sandbox Accredited Data Recipient used by the smoke test. */
  clientCertificate: string;
  clientKey: string;
}

export async function createCertificateAuthority(
  commonName: string,
  issuer?: CertificateAuthority,
  options: { days?: number; pathLength?: number } = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeys(KEY_ALGORITHM);
  const notBefore = new Date(Date.now() - 60_000);
  const extensions = [
    new x509.BasicConstraintsExtension(true, options.pathLength ?? (issuer ? 0 : 1), true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const certificate = issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(),
        subject: `CN=${commonName}, O=obkit sandbox`,
        issuer: new x509.X509Certificate(issuer.certificatePem).subject,
        notBefore,
        notAfter: new Date(notBefore.getTime() + (options.days ?? 3650) * DAY_MS),
        publicKey: keys.publicKey,
        signingKey: (await importKey(issuer.keyPem)) as never,
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions: [
          ...extensions,
          await x509.AuthorityKeyIdentifierExtension.create(new x509.X509Certificate(issuer.certificatePem)),
        ],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serialNumber(),
        name: `CN=${commonName}, O=obkit sandbox`,
        notBefore,
        notAfter: new Date(notBefore.getTime() + (options.days ?? 3650) * DAY_MS),
        keys,
        signingAlgorithm: SIGNING_ALGORITHM,
        extensions,
      });
  return { certificatePem: certificate.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

export interface IssueOptions {
  commonName: string;
  /** DNS names and IP addresses for a server certificate. */
  subjectAltNames?: string[];
  usage: 'server' | 'client';
  days?: number;
  organization?: string;
}

export async function issueCertificate(
  ca: CertificateAuthority,
  options: IssueOptions,
): Promise<IssuedCertificate> {
  const keys = await generateKeys(options.usage === 'server' ? SERVER_KEY_ALGORITHM : KEY_ALGORITHM);
  const caCertificate = new x509.X509Certificate(ca.certificatePem);
  const notBefore = new Date(Date.now() - 60_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate),
  ];
  if (options.subjectAltNames?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.subjectAltNames.map((name) =>
          isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name },
        ),
      ),
    );
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${options.commonName}, O=${options.organization ?? 'obkit sandbox'}`,
    issuer: caCertificate.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 825) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: (await importKey(ca.keyPem)) as never,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  const isRoot = caCertificate.subject === caCertificate.issuer;
  return {
    certificatePem: certificate.toString('pem') + (isRoot ? '' : `\n${ca.certificatePem}`),
    keyPem: await exportKey(keys.privateKey),
  };
}

/**
 * Creates the sandbox PKI under `dir`, or reuses what is there: existing CAs are never replaced (that
 * would orphan every issued certificate); a server certificate lacking a requested name, close to expiry
 * or without an RSA key (issued by an older obkit) is re-issued.
 */
export async function ensureSandboxPki(
  dir: string,
  options: { hostnames?: string[] } = {},
): Promise<SandboxPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki = sandboxPkiPaths(dir);
  const hostnames = [...new Set(['localhost', '127.0.0.1', '::1', ...(options.hostnames ?? [])])];

  const root = await loadOrCreate(pki.rootCaCertificate, pki.rootCaKey, () =>
    createCertificateAuthority('obkit sandbox root CA'),
  );
  const issuing = await loadOrCreate(pki.issuingCaCertificate, pki.issuingCaKey, () =>
    createCertificateAuthority('obkit sandbox issuing CA', root),
  );
  const bundle = `${issuing.certificatePem.trim()}\n${root.certificatePem.trim()}\n`;
  await writeIfChanged(pki.caBundle, bundle);
  if (!existsSync(pki.truststore)) await writeFile(pki.truststore, bundle);

  if (!(await servesProfile(pki.serverCertificate, hostnames))) {
    const server = await issueCertificate(issuing, {
      commonName: 'obkit services',
      subjectAltNames: hostnames,
      usage: 'server',
    });
    await writePair(pki.serverCertificate, pki.serverKey, server);
  }
  const internal = await loadOrCreate(pki.internalCaCertificate, pki.internalCaKey, () =>
    createCertificateAuthority('obkit internal CA'),
  );
  if (!existsSync(pki.gatewayInternalCertificate)) {
    await writePair(
      pki.gatewayInternalCertificate,
      pki.gatewayInternalKey,
      await issueCertificate(internal, { commonName: 'obkit-gateway', usage: 'client' }),
    );
  }
  if (!existsSync(pki.bankingInternalCertificate)) {
    await writePair(
      pki.bankingInternalCertificate,
      pki.bankingInternalKey,
      await issueCertificate(internal, { commonName: 'obkit-banking', usage: 'client' }),
    );
  }
  if (!existsSync(pki.clientCertificate)) {
    await writePair(
      pki.clientCertificate,
      pki.clientKey,
      await issueCertificate(issuing, { commonName: 'obkit-sandbox-adr', usage: 'client' }),
    );
  }
  return pki;
}

/** A new client transport certificate from the sandbox issuing CA (`obkit pki issue-client`). */
export async function issueSandboxClientCertificate(
  dir: string,
  commonName: string,
  days?: number,
): Promise<IssuedCertificate> {
  const pki = sandboxPkiPaths(dir);
  const issuing = await readCa(pki.issuingCaCertificate, pki.issuingCaKey);
  return issueCertificate(issuing, { commonName, usage: 'client', ...(days ? { days } : {}) });
}

export function sandboxPkiPaths(dir: string): SandboxPki {
  const at = (name: string) => join(dir, name);
  return {
    dir,
    caBundle: at('ca.pem'),
    rootCaCertificate: at('root-ca.pem'),
    rootCaKey: at('root-ca.key'),
    issuingCaCertificate: at('issuing-ca.pem'),
    issuingCaKey: at('issuing-ca.key'),
    serverCertificate: at('server.pem'),
    serverKey: at('server.key'),
    truststore: at('truststore.pem'),
    internalCaCertificate: at('internal-ca.pem'),
    internalCaKey: at('internal-ca.key'),
    gatewayInternalCertificate: at('gateway-internal.pem'),
    gatewayInternalKey: at('gateway-internal.key'),
    bankingInternalCertificate: at('banking-internal.pem'),
    bankingInternalKey: at('banking-internal.key'),
    clientCertificate: at('client.pem'),
    clientKey: at('client.key'),
  };
}

/** Splits a PEM bundle into its certificates (for truststores holding several CAs). */
export function splitPemBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function loadOrCreate(
  certificatePath: string,
  keyPath: string,
  create: () => Promise<CertificateAuthority>,
): Promise<CertificateAuthority> {
  if (existsSync(certificatePath) && existsSync(keyPath)) return readCa(certificatePath, keyPath);
  const ca = await create();
  await writePair(certificatePath, keyPath, { certificatePem: ca.certificatePem, keyPem: ca.keyPem });
  return ca;
}

async function readCa(certificatePath: string, keyPath: string): Promise<CertificateAuthority> {
  return { certificatePem: await readFile(certificatePath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') };
}

async function writePair(certificatePath: string, keyPath: string, pair: IssuedCertificate): Promise<void> {
  await writeFile(keyPath, pair.keyPem, { mode: 0o600 });
  await chmod(keyPath, 0o600);
  await writeFile(certificatePath, pair.certificatePem);
}

async function writeIfChanged(path: string, content: string): Promise<void> {
  if (existsSync(path) && (await readFile(path, 'utf8')) === content) return;
  await writeFile(path, content);
}

/** Still usable: names covered, not about to expire, an RSA key (P-256 ones from older versions are replaced). */
async function servesProfile(certificatePath: string, names: string[]): Promise<boolean> {
  if (!existsSync(certificatePath)) return false;
  const certificate = new X509Certificate(await readFile(certificatePath));
  if (new Date(certificate.validTo).getTime() < Date.now() + 7 * DAY_MS) return false;
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
    return false;
  return names.every((name) =>
    isIP(name) ? certificate.checkIP(name) !== undefined : certificate.checkHost(name) !== undefined,
  );
}

async function generateKeys(
  algorithm: typeof KEY_ALGORITHM | typeof SERVER_KEY_ALGORITHM,
): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
