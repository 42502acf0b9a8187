import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayConnection, isInternalConnection } from '../../../lib/http/forwarded-certificate.ts';
import { createCertificateAuthority } from '../../../lib/pki/index.ts';
import { createTestPki, type TestPki } from '../../support/pki.ts';

// Who an internal connection is, judged once per connection (each request on a keep-alive connection
// used to parse the peer certificate and verify its signature anew) — and judged again against a new
// internal CA bundle, so a rotated CA is never answered from the old one.

let pki: TestPki;
let internalCas: X509Certificate[];

beforeAll(async () => {
  pki = await createTestPki();
  internalCas = [new X509Certificate(await readFile(pki.internalCaCertificate))];
});

afterAll(async () => {
  await pki?.cleanup();
});

/** A TLS socket as these checks see it, counting how often its peer certificate is parsed. */
function socketWith(certificatePem: string, authorized = true) {
  const socket = {
    authorized,
    parses: 0,
    getPeerX509Certificate() {
      socket.parses++;
      return new X509Certificate(certificatePem);
    },
  };
  return socket as typeof socket & TLSSocket;
}

describe('internal connections', () => {
  it('judges a connection once per name, however many requests ask', async () => {
    const gateway = socketWith((await pki.issueInternalClient('obkit-gateway')).certificatePem);
    for (let request = 0; request < 5; request++) {
      expect(isGatewayConnection(gateway, internalCas)).toBe(true);
      expect(isInternalConnection(gateway, internalCas, 'obkit-banking')).toBe(false);
    }
    expect(gateway.parses).toBe(2);
  });

  it('refuses a recipient certificate, an unverified handshake and another CA naming the gateway', async () => {
    expect(isGatewayConnection(socketWith((await pki.issueClient()).certificatePem), internalCas)).toBe(
      false,
    );
    const unverified = socketWith((await pki.issueInternalClient('obkit-gateway')).certificatePem, false);
    expect(isGatewayConnection(unverified, internalCas)).toBe(false);
    expect(unverified.parses).toBe(0);
    const impostor = socketWith((await pki.issueUntrustedClient('obkit-gateway')).certificatePem);
    expect(isGatewayConnection(impostor, internalCas)).toBe(false);
  });

  it('judges again when the internal CA bundle is replaced', async () => {
    const gateway = socketWith((await pki.issueInternalClient('obkit-gateway')).certificatePem);
    expect(isGatewayConnection(gateway, internalCas)).toBe(true);
    const rotated = [
      new X509Certificate((await createCertificateAuthority('obkit rotated internal CA')).certificatePem),
    ];
    expect(isGatewayConnection(gateway, rotated)).toBe(false);
    expect(isGatewayConnection(gateway, internalCas)).toBe(true);
    expect(gateway.parses).toBe(3);
  });
});
