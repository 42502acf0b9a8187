import { createHash, type X509Certificate } from 'node:crypto';

/** RFC 8705 `x5t#S256`: base64url SHA-256 of the certificate's DER, the binding in a token's `cnf`. */
export function certificateThumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}
