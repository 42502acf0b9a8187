import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  CLIENT_CERTIFICATE_HEADER,
  decodeCertificateHeader,
  isGatewayConnection,
} from '../../../lib/http/forwarded-certificate.ts';
import { splitPemBundle } from '../../../lib/pki/index.ts';

/**
 * Whose certificate a request carries, for token binding (RFC 8705) and the DCR endpoint:
 * - a recipient connecting directly: its TLS client certificate, when the handshake verified it against
 *   the truststore (unverified certificates are ignored: the server asks for one but does not require it);
 * - the gateway (internal CA, CN=obkit-gateway): the certificate it forwarded in `x-wso2-mutual-auth-cert`;
 * - anyone else sending that header: the header is ignored and a warning logged, since only the gateway
 *   may vouch for a certificate it verified itself.
 * A certificate from the internal CA is never a recipient's transport certificate.
 */
export class ClientCertificateResolver {
  readonly #internalCaFile: string;
  readonly #logger: Logger;
  #internalCas: X509Certificate[];
  #loadedMtime: number;
  #checkedAt = 0;

  constructor(internalCaFile: string, logger: Logger) {
    this.#internalCaFile = internalCaFile;
    this.#logger = logger;
    this.#loadedMtime = statSync(internalCaFile).mtimeMs;
    this.#internalCas = readCas(internalCaFile);
  }

  certificateOf(request: IncomingMessage): X509Certificate | undefined {
    this.#reloadWhenChanged();
    const socket = request.socket as TLSSocket;
    const forwarded = request.headers[CLIENT_CERTIFICATE_HEADER];
    // Parsed once for both questions: is it the gateway, and else whose certificate is it.
    const peer = socket.authorized ? socket.getPeerX509Certificate?.() : undefined;
    if (isGatewayConnection(socket, this.#internalCas, peer)) {
      if (forwarded === undefined) return undefined;
      const certificate = decodeCertificateHeader(forwarded);
      if (!certificate) this.#logger.warn('the gateway forwarded a client certificate that does not parse');
      return certificate;
    }
    if (forwarded !== undefined) {
      this.#logger.warn(
        { remoteAddress: socket.remoteAddress },
        `ignoring ${CLIENT_CERTIFICATE_HEADER}: the connection is not the gateway's`,
      );
    }
    if (!peer || this.#isInternal(peer)) return undefined;
    return peer;
  }

  /** The TLS context reloads a changed internal CA (createService); this keeps the check in step with it. */
  #reloadWhenChanged(): void {
    const now = Date.now();
    if (now - this.#checkedAt < 1000) return;
    this.#checkedAt = now;
    try {
      const mtime = statSync(this.#internalCaFile).mtimeMs;
      if (mtime === this.#loadedMtime) return;
      this.#internalCas = readCas(this.#internalCaFile);
      this.#loadedMtime = mtime;
    } catch (error) {
      this.#logger.error({ err: error }, 'internal CA reload failed; keeping the previous bundle');
    }
  }

  #isInternal(certificate: X509Certificate): boolean {
    return this.#internalCas.some((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey));
  }
}

function readCas(file: string): X509Certificate[] {
  return splitPemBundle(readFileSync(file, 'utf8')).map((pem) => new X509Certificate(pem));
}
