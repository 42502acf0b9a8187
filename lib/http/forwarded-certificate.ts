import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/**
 * The gateway forwards the client certificate it verified in this one header (WSO2's name), URL-encoded
 * PEM as nginx's `$ssl_client_escaped_cert`. It always overwrites an inbound copy; internal services
 * believe it only on connections authenticated as the gateway.
 */
export const CLIENT_CERTIFICATE_HEADER = 'x-wso2-mutual-auth-cert';
export const GATEWAY_COMMON_NAME = 'obkit-gateway';
/** The banking service's internal client certificate name (towards the identity server). */
export const BANKING_COMMON_NAME = 'obkit-banking';
/**
 * The CDR arrangement of the access token a request came with, set by the gateway from the token it
 * validated (always overwriting an inbound copy); the banking service believes it only on the gateway's
 * connection.
 */
export const ARRANGEMENT_HEADER = 'x-cdr-arrangement-id';

export function encodeCertificateHeader(pem: string): string {
  return encodeURIComponent(pem);
}

/** The certificate in a header value, or undefined when it is not a parseable certificate. */
export function decodeCertificateHeader(value: string | string[] | undefined): X509Certificate | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  try {
    return new X509Certificate(decodeURIComponent(value));
  } catch {
    return undefined;
  }
}

/**
 * True when the TLS peer is the gateway: its certificate verified during the handshake, was issued by
 * the deployment's internal CA (never the recipients' CA) and names the gateway. `peer`: the socket's
 * peer certificate when the caller has it already.
 */
export function isGatewayConnection(
  socket: TLSSocket,
  internalCas: readonly X509Certificate[],
  peer?: X509Certificate,
): boolean {
  return isInternalConnection(socket, internalCas, GATEWAY_COMMON_NAME, peer);
}

/**
 * True when the TLS peer's certificate verified, was issued by the internal CA and names `commonName`.
 * Judged once per connection and name — a connection's peer certificate cannot change (renegotiation is
 * refused) — and again when the CA bundle is a new one (a reload): each request on a keep-alive
 * connection would otherwise parse the peer certificate and verify its signature anew.
 */
export function isInternalConnection(
  socket: TLSSocket,
  internalCas: readonly X509Certificate[],
  commonName: string,
  peer?: X509Certificate,
): boolean {
  if (!socket.authorized) return false;
  let judged = internalPeers.get(socket);
  if (judged?.cas !== internalCas) {
    judged = { cas: internalCas, names: new Map() };
    internalPeers.set(socket, judged);
  }
  let answer = judged.names.get(commonName);
  if (answer === undefined) {
    answer = issuedToInternalName(peer ?? socket.getPeerX509Certificate?.(), internalCas, commonName);
    judged.names.set(commonName, answer);
  }
  return answer;
}

const internalPeers = new WeakMap<
  TLSSocket,
  { cas: readonly X509Certificate[]; names: Map<string, boolean> }
>();

function issuedToInternalName(
  peer: X509Certificate | undefined,
  internalCas: readonly X509Certificate[],
  commonName: string,
): boolean {
  if (!peer) return false;
  if (!peer.subject.split('\n').includes(`CN=${commonName}`)) return false;
  return internalCas.some((ca) => peer.checkIssued(ca) && peer.verify(ca.publicKey));
}
