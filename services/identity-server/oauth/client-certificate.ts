import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { clientCertificateVerdict } from '../../../lib/http/client-certificate.ts';
import {
  CLIENT_CERTIFICATE_HEADER,
  decodeCertificateHeader,
  isGatewayConnection,
  isInternalConnection,
} from '../../../lib/http/forwarded-certificate.ts';
import { splitPemBundle } from '../../../lib/pki/index.ts';

/**
 * Whose certificate a request carries, for token binding (RFC 8705) and the DCR endpoint:
 * - a recipient connecting directly: its TLS client certificate, when it meets the client-certificate
 *   rules the gateway applies too (lib/http/client-certificate.ts: chain to the truststore, validity,
 *   clientAuth, key usage); any other is ignored — never bound to a token — and the reason logged (the
 *   server asks for a certificate but does not require one);
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
    // Judged once per connection for both questions: is it the gateway, and else whose certificate is it.
    const verdict = clientCertificateVerdict(socket);
    const peer = verdict.kind === 'accepted' ? verdict.certificate : undefined;
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
    if (verdict.kind === 'refused') {
      this.#logger.info(
        { remoteAddress: socket.remoteAddress, reason: verdict.reason },
        'ignoring a client certificate that breaks the client-certificate rules',
      );
    }
    if (!peer || this.#isInternal(peer)) return undefined;
    return peer;
  }

  /** True when the request came on the gateway's connection (internal CA, CN=obkit-gateway). */
  isGateway(request: IncomingMessage): boolean {
    this.#reloadWhenChanged();
    return isGatewayConnection(request.socket as TLSSocket, this.#internalCas);
  }

  /** True when the request came on an internal service's connection (internal CA, CN=`commonName`). */
  isInternalClient(request: IncomingMessage, commonName: string): boolean {
    this.#reloadWhenChanged();
    return isInternalConnection(request.socket as TLSSocket, this.#internalCas, commonName);
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
