import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { encodeCertificateHeader } from '../../lib/http/forwarded-certificate.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** What the gateway knows about the verified client certificate of one TLS connection. */
export interface ClientIdentity {
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate, compared with `cnf` of tokens. */
  thumbprint: string;
  /** The forwarded-certificate header value (URL-encoded PEM), computed once per connection. */
  headerValue: string;
  subject: string;
}

/**
 * Verdict on a connection's client certificate, computed once per connection right after the handshake.
 * OpenSSL has already checked chain and validity period against the truststore (`socket.authorized`);
 * here the extended key usage must also allow client authentication.
 */
export type CertificateVerdict =
  | { kind: 'none' }
  | { kind: 'untrusted'; reason: string }
  | { kind: 'trusted'; identity: ClientIdentity };

const verdicts = new WeakMap<TLSSocket, CertificateVerdict>();

export function inspectClientCertificate(socket: TLSSocket): CertificateVerdict {
  const cached = verdicts.get(socket);
  if (cached) return cached;
  const verdict = judge(socket);
  verdicts.set(socket, verdict);
  return verdict;
}

function judge(socket: TLSSocket): CertificateVerdict {
  const certificate = socket.getPeerX509Certificate?.();
  if (!certificate) return { kind: 'none' };
  if (!socket.authorized) {
    return { kind: 'untrusted', reason: String(socket.authorizationError ?? 'certificate not trusted') };
  }
  if (!allowsClientAuth(certificate)) {
    return { kind: 'untrusted', reason: 'certificate extended key usage does not allow clientAuth' };
  }
  return {
    kind: 'trusted',
    identity: {
      thumbprint: certificateThumbprint(certificate),
      headerValue: encodeCertificateHeader(certificate.toString()),
      subject: certificate.subject.replaceAll('\n', ', '),
    },
  };
}

function allowsClientAuth(certificate: X509Certificate): boolean {
  const usages = certificate.keyUsage;
  return Array.isArray(usages) && (usages.includes(CLIENT_AUTH) || usages.includes(ANY_EXTENDED_KEY_USAGE));
}
