import type { TLSSocket } from 'node:tls';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { clientCertificateVerdict } from '../../lib/http/client-certificate.ts';
import { encodeCertificateHeader } from '../../lib/http/forwarded-certificate.ts';

/** What the gateway knows about the accepted client certificate of one TLS connection. */
export interface ClientIdentity {
  /** RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate, compared with `cnf` of tokens. */
  thumbprint: string;
  /** The forwarded-certificate header value (URL-encoded PEM), computed once per connection. */
  headerValue: string;
  subject: string;
}

/**
 * The gateway's view of a connection's client certificate, computed once per connection right after the
 * handshake: the shared client-certificate rules (lib/http/client-certificate.ts) decide, and an accepted
 * certificate is turned into what every request on the connection needs.
 */
export type CertificateVerdict =
  | { kind: 'none' }
  | { kind: 'refused'; reason: string }
  | { kind: 'trusted'; identity: ClientIdentity };

const verdicts = new WeakMap<TLSSocket, CertificateVerdict>();

export function inspectClientCertificate(socket: TLSSocket): CertificateVerdict {
  const cached = verdicts.get(socket);
  if (cached) return cached;
  const judged = clientCertificateVerdict(socket);
  const verdict: CertificateVerdict =
    judged.kind === 'accepted'
      ? {
          kind: 'trusted',
          identity: {
            thumbprint: certificateThumbprint(judged.certificate),
            headerValue: encodeCertificateHeader(judged.certificate.toString()),
            subject: judged.certificate.subject.replaceAll('\n', ', '),
          },
        }
      : judged;
  verdicts.set(socket, verdict);
  return verdict;
}
