import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { decodeJwt, jwtVerify } from 'jose';
import { InvalidArrangement, InvalidClient, InvalidRequest } from '../../../lib/http/errors.ts';
import type { Database } from '../../../lib/storage/index.ts';
import { KeySetCache } from '../dcr/key-set-cache.ts';
import type { RevocationStore } from '../revocation/store.ts';
import { revokeArrangement } from './revoke.ts';

/** CDS: the Data Holder's arrangement revocation endpoint, for recipients. */
export const ARRANGEMENT_REVOCATION_PATH = '/arrangements/revoke';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGORITHMS = ['PS256', 'ES256'];

export interface ArrangementRevocationOptions {
  db: Database;
  revocations: RevocationStore;
  /** Recipient JWKS fetches, under the outbound policy. */
  fetchJson(url: string): Promise<unknown>;
  /** Accepted client-assertion audiences: the issuer and this endpoint's URL. */
  audiences: string[];
}

/**
 * `POST /arrangements/revoke` (CDS "CDR Arrangement Revocation"): the recipient authenticates with
 * private_key_jwt and sends `cdr_arrangement_jwt`, a JWT it signed naming `cdr_arrangement_id`. The
 * arrangement is marked revoked, its grant's refresh tokens deleted, and every access token carrying its
 * id refused here and — through the revocation feed — at every gateway. 204 when done; 422 with the CDS
 * error for an arrangement that is not the client's or not active.
 */
export function arrangementRevocationRoutes(options: ArrangementRevocationOptions) {
  const revoker = new ArrangementRevoker(options);
  return async function registerArrangementRevocation(app: FastifyInstance): Promise<void> {
    await app.register(formbody);
    app.post<{ Body: Record<string, string | undefined> }>(
      ARRANGEMENT_REVOCATION_PATH,
      async (request, reply) => {
        const body = request.body ?? {};
        const clientId = await revoker.authenticate(body);
        const arrangementId = await revoker.arrangementIdOf(clientId, body.cdr_arrangement_jwt);
        if (
          typeof arrangementId !== 'string' ||
          !(await revokeArrangement(options.revocations, arrangementId, { clientId }))
        ) {
          throw new InvalidArrangement('cdr_arrangement_id is not an active arrangement of this client');
        }
        return reply.status(204).send();
      },
    );
  };
}

/** The endpoint's checks and its one effect, over the clients and arrangements tables. */
class ArrangementRevoker {
  readonly #options: ArrangementRevocationOptions;
  readonly #keys: KeySetCache;

  constructor(options: ArrangementRevocationOptions) {
    this.#options = options;
    this.#keys = new KeySetCache({
      fetch: options.fetchJson,
      maxAgeMs: 5 * 60_000,
      cooldownMs: 10_000,
      serveStaleOnError: false,
      maxEntries: 256,
    });
  }

  /** `cdr_arrangement_id` of the recipient-signed `cdr_arrangement_jwt`. */
  async arrangementIdOf(clientId: string, arrangementJwt: string | undefined): Promise<unknown> {
    const jwksUri = await this.jwksUriOf(clientId);
    if (!arrangementJwt) throw new InvalidRequest('cdr_arrangement_jwt is required');
    try {
      const { payload } = await jwtVerify(arrangementJwt, this.#keys.resolver(jwksUri), {
        algorithms: ALGORITHMS,
      });
      return payload.cdr_arrangement_id;
    } catch {
      throw new InvalidRequest('cdr_arrangement_jwt is not a JWT signed (PS256/ES256) by the client');
    }
  }

  /** private_key_jwt: a client assertion by a registered CDR client, verified with its keys, used once. */
  async authenticate(body: Record<string, string | undefined>): Promise<string> {
    if (body.client_assertion_type !== CLIENT_ASSERTION_TYPE || !body.client_assertion) {
      throw new InvalidClient('private_key_jwt client authentication is required');
    }
    let clientId: string;
    try {
      clientId = String(decodeJwt(body.client_assertion).iss);
    } catch {
      throw new InvalidClient('the client assertion is not a JWT');
    }
    const jwksUri = await this.jwksUriOf(clientId);
    let payload: { jti?: string; exp?: number };
    try {
      ({ payload } = await jwtVerify(body.client_assertion, this.#keys.resolver(jwksUri), {
        algorithms: ALGORITHMS,
        issuer: clientId,
        subject: clientId,
        audience: this.#options.audiences,
        requiredClaims: ['jti', 'exp'],
      }));
    } catch {
      throw new InvalidClient('the client assertion is not valid');
    }
    const seen = await this.#options.db.query(
      `INSERT INTO seen_jtis (purpose, jti, expires_at) VALUES ('arrangement-revocation', $1, to_timestamp($2))
       ON CONFLICT (purpose, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE seen_jtis.expires_at < now()`,
      [`${clientId}:${payload.jti}`, payload.exp],
    );
    if (seen.rowCount === 0) throw new InvalidClient('the client assertion was already used');
    return clientId;
  }

  async jwksUriOf(clientId: string): Promise<string> {
    const { rows } = await this.#options.db.query<{ jwks_uri: string | null }>(
      `SELECT metadata->>'jwks_uri' AS jwks_uri FROM clients WHERE client_id = $1 AND source = 'cdr-dcr'`,
      [clientId],
    );
    if (!rows[0]?.jwks_uri) throw new InvalidClient('unknown client');
    return rows[0].jwks_uri;
  }
}
