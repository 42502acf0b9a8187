import 'reflect-metadata';
import type { TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCertificateVerdict } from '../../../lib/http/client-certificate.ts';
import { createService, type Service } from '../../../lib/http/service.ts';
import type { IssuedCertificate } from '../../../lib/pki/index.ts';
import { createTestPki, type TestPki } from '../../support/pki.ts';

// The client-certificate rules over real mutual TLS: a listener asking for (not requiring) a certificate
// against the sandbox truststore, answering with the verdict of the one module the gateway and the
// identity server both use.

let pki: TestPki;
let service: Service;
let base: string;

beforeAll(async () => {
  pki = await createTestPki();
  service = createService({
    name: 'rules',
    logLevel: 'silent',
    tls: {
      certificate: pki.serverCertificate,
      privateKey: pki.serverKey,
      clientCas: [pki.truststore],
      requestCert: true,
    },
    managementPort: 0,
  });
  service.app.get('/verdict', async (req) => {
    const verdict = clientCertificateVerdict(req.raw.socket as TLSSocket);
    return { kind: verdict.kind, reason: verdict.kind === 'refused' ? verdict.reason : undefined };
  });
  base = `https://localhost:${await service.listen(0, '127.0.0.1')}`;
});

afterAll(async () => {
  await service?.close();
  await pki?.cleanup();
});

async function verdictFor(certificate: IssuedCertificate | undefined) {
  const agent = new Agent({
    connect: {
      ca: pki.ca,
      ...(certificate ? { cert: certificate.certificatePem, key: certificate.keyPem } : {}),
    },
  });
  try {
    const response = await request(`${base}/verdict`, { dispatcher: agent });
    return (await response.body.json()) as { kind: string; reason?: string };
  } finally {
    await agent.close();
  }
}

describe('client-certificate rules', () => {
  it('accept a transport certificate of the truststore with clientAuth and digitalSignature', async () => {
    expect(await verdictFor(await pki.issueClient())).toEqual({ kind: 'accepted' });
  });

  it('see no certificate when none is presented', async () => {
    expect(await verdictFor(undefined)).toEqual({ kind: 'none' });
  });

  it('refuse a certificate that does not chain to the truststore', async () => {
    const verdict = await verdictFor(await pki.issueUntrustedClient());
    expect(verdict.kind).toBe('refused');
    expect(verdict.reason).toMatch(/does not chain to a trusted CA/);
  });

  it('refuse an expired certificate', async () => {
    const verdict = await verdictFor(await pki.issueNonconformingClient({ name: 'expired', validDays: -1 }));
    expect(verdict).toMatchObject({
      kind: 'refused',
      reason: expect.stringMatching(/outside its validity period/),
    });
  });

  it('refuse a certificate without an extended key usage, or with one that leaves out clientAuth', async () => {
    // anyExtendedKeyUsage is not enough either: OpenSSL's client purpose check refuses it as well.
    const anyExtendedKeyUsage = '2.5.29.37.0';
    for (const extendedKeyUsages of [null, [x509.ExtendedKeyUsage.serverAuth], [anyExtendedKeyUsage]]) {
      const certificate = await pki.issueNonconformingClient({ name: 'no-client-auth', extendedKeyUsages });
      expect(await verdictFor(certificate), JSON.stringify(extendedKeyUsages)).toEqual({
        kind: 'refused',
        reason: 'the certificate extended key usage does not allow clientAuth',
      });
    }
  });

  it('refuse a certificate whose key usage leaves out digitalSignature', async () => {
    const certificate = await pki.issueNonconformingClient({
      name: 'key-agreement-only',
      keyUsages: x509.KeyUsageFlags.keyAgreement,
    });
    expect(await verdictFor(certificate)).toEqual({
      kind: 'refused',
      reason: 'the certificate key usage does not allow digitalSignature',
    });
  });
});
