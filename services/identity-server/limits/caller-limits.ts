import type { IncomingMessage } from 'node:http';
import type { Limits } from '../../../lib/config/index.ts';
import { quotaOf, RequestLimits, sourceAddressOf } from '../../../lib/limits/request-limits.ts';
import type { Queryable } from '../../../lib/storage/index.ts';
import type { ClientCertificateResolver } from '../oauth/client-certificate.ts';

/**
 * The identity server's abuse limits on the token endpoint and the DCR endpoint, per client and per
 * source address, shared by every replica (lib/limits).
 *
 * The client is who the connection proves to be where it can: the client certificate (the recipient's
 * transport certificate, on its own connection or forwarded by the gateway), which no third party can
 * present to use up another client's quota. Without one, the client id of `client_secret_basic` (the
 * API manager's key-manager applications, on the internal network); the per-source limit bounds anyone
 * naming a client they are not.
 */
export class CallerLimits {
  readonly #limits: RequestLimits;
  readonly #settings: Limits;
  readonly #certificates: ClientCertificateResolver;

  constructor(db: Queryable, settings: Limits, certificates: ClientCertificateResolver) {
    this.#limits = new RequestLimits(db);
    this.#settings = settings;
    this.#certificates = certificates;
  }

  /** `POST /oauth2/token`. */
  token(request: IncomingMessage): Promise<void> {
    const caller = this.#callerOf(request);
    return this.#limits.admit([
      { limit: 'token:client', subject: caller.client, quota: quotaOf(this.#settings.token_per_client) },
      { limit: 'token:source', subject: caller.source, quota: quotaOf(this.#settings.token_per_source) },
    ]);
  }

  /** `POST /register`, `GET|PUT|DELETE /register/{ClientId}`. */
  dcr(request: IncomingMessage): Promise<void> {
    const caller = this.#callerOf(request);
    return this.#limits.admit([
      { limit: 'dcr:client', subject: caller.client, quota: quotaOf(this.#settings.dcr_per_client) },
      { limit: 'dcr:source', subject: caller.source, quota: quotaOf(this.#settings.dcr_per_source) },
    ]);
  }

  prune(): Promise<void> {
    return this.#limits.prune();
  }

  #callerOf(request: IncomingMessage): { client: string | undefined; source: string } {
    const certificate = this.#certificates.certificateOf(request);
    const client = certificate
      ? `x5t#S256=${certificate.fingerprint256}`
      : basicClientId(request.headers.authorization);
    return { client, source: sourceAddressOf(request, this.#certificates.isGateway(request)) };
  }
}

function basicClientId(authorization: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? `client_id=${decoded.slice(0, colon)}` : undefined;
}
