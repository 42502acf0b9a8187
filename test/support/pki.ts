import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    cleanup: async () => {
      if (!dir) await rm(root, { recursive: true, force: true });
    },
  };
}
