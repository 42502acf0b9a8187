import 'reflect-metadata';
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What a listener makes of the client certificate of one TLS connection. */
export type ClientCertificateVerdict =
  | { kind: 'none' }
  | { kind: 'refused'; reason: string }
  | { kind: 'accepted'; certificate: X509Certificate };

/**
 * The rules a client certificate must meet wherever it is presented — the gateway and the identity
 * server (and the sandbox Register) judge it with this one function:
 * 1. it chains to the listener's truststore: OpenSSL verified the chain during the handshake against the
 *    listener's CAs (`socket.authorized`);
 * 2. it is inside its validity period (OpenSSL checks it too; stated here so the rule does not depend on
 *    how the listener was configured);
 * 3. its extended key usage allows client authentication (an EKU extension naming clientAuth; a
 *    certificate without one is not a transport certificate);
 * 4. its key usage, when present, allows digitalSignature (the client signs the handshake with it).
 * The verdict is computed once per connection.
 */
export function clientCertificateVerdict(socket: TLSSocket): ClientCertificateVerdict {
  const cached = verdicts.get(socket);
  if (cached) return cached;
  const verdict = judge(socket);
  verdicts.set(socket, verdict);
  return verdict;
}

const verdicts = new WeakMap<TLSSocket, ClientCertificateVerdict>();

function judge(socket: TLSSocket): ClientCertificateVerdict {
  const certificate = socket.getPeerX509Certificate?.();
  if (!certificate) return { kind: 'none' };
  // The certificate's own rules first: OpenSSL folds some of them into its chain verdict (an EKU
  // without clientAuth is its INVALID_PURPOSE), and the caller deserves the precise reason.
  const problem = clientCertificateProblem(certificate);
  if (problem) return { kind: 'refused', reason: problem };
  if (!socket.authorized) {
    return {
      kind: 'refused',
      reason: `the certificate does not chain to a trusted CA (${String(socket.authorizationError ?? 'unverified')})`,
    };
  }
  return { kind: 'accepted', certificate };
}

/** Rules 2–4 on a parsed certificate (rule 1 is the handshake's); undefined when it meets them. */
export function clientCertificateProblem(certificate: X509Certificate, now = Date.now()): string | undefined {
  if (now < Date.parse(certificate.validFrom) || now > Date.parse(certificate.validTo)) {
    return `the certificate is outside its validity period (${certificate.validFrom} – ${certificate.validTo})`;
  }
  // Node names the extended key usage OIDs `keyUsage`. anyExtendedKeyUsage is not enough: OpenSSL's
  // client purpose check refuses it too.
  if (!certificate.keyUsage?.includes(CLIENT_AUTH)) {
    return 'the certificate extended key usage does not allow clientAuth';
  }
  if (!keyUsageAllowsSignature(certificate)) {
    return 'the certificate key usage does not allow digitalSignature';
  }
  return undefined;
}

/** Key-usage verdicts by certificate fingerprint: recipients reconnect with the same certificate. */
const keyUsageVerdicts = new Map<string, boolean>();
const KEY_USAGE_VERDICTS_KEPT = 10_000;

/**
 * Whether the key usage (when present) allows digitalSignature. Node's X509Certificate does not expose
 * key usage, and parsing with @peculiar/x509 costs about half a millisecond, so each certificate is
 * parsed once, not once per connection.
 */
function keyUsageAllowsSignature(certificate: X509Certificate): boolean {
  const fingerprint = certificate.fingerprint256;
  let allowed = keyUsageVerdicts.get(fingerprint);
  if (allowed === undefined) {
    const keyUsage = new x509.X509Certificate(certificate.raw).getExtension(x509.KeyUsagesExtension);
    allowed = !keyUsage || (keyUsage.usages & x509.KeyUsageFlags.digitalSignature) !== 0;
    if (keyUsageVerdicts.size >= KEY_USAGE_VERDICTS_KEPT) {
      keyUsageVerdicts.delete(keyUsageVerdicts.keys().next().value as string);
    }
    keyUsageVerdicts.set(fingerprint, allowed);
  }
  return allowed;
}
