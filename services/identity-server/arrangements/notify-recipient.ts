import { randomUUID } from 'node:crypto';
import { importJWK, type JWK, SignJWT } from 'jose';
import type { Logger } from 'pino';
import type { OutboundClient } from '../../../lib/http/outbound.ts';
import type { Database } from '../../../lib/storage/index.ts';

export interface RecipientNotifierOptions {
  db: Database;
  outbound: OutboundClient;
  issuer: string;
  /** The identity server's private signing JWKs now in force (retired ones marked verify-only). */
  signingKeys(): JWK[];
  logger: Logger;
}

/**
 * Tells a recipient that a customer revoked an arrangement at the Data Holder (CDS "CDR Arrangement
 * Revocation" at the recipient's `revocation_uri`): a form POST of `cdr_arrangement_jwt`, authenticated
 * with a Bearer JWT (`iss` = `sub` = the Data Holder, `aud` = the endpoint), both signed PS256 with the
 * Data Holder's own key, which the recipient verifies with the Data Holder's published JWKS. Sent through
 * the guarded outbound client; a failure is logged and reported, never undoes the revocation.
 */
export class RecipientNotifier {
  readonly #options: RecipientNotifierOptions;

  constructor(options: RecipientNotifierOptions) {
    this.#options = options;
  }

  /** True when the recipient acknowledged (2xx). */
  async arrangementRevoked(clientId: string, arrangementId: string): Promise<boolean> {
    const { rows } = await this.#options.db.query<{ revocation_uri: string | null }>(
      `SELECT COALESCE(registration->>'revocation_uri', metadata->>'revocation_uri') AS revocation_uri
         FROM clients WHERE client_id = $1`,
      [clientId],
    );
    const endpoint = rows[0]?.revocation_uri;
    if (!endpoint) {
      this.#options.logger.warn({ clientId, arrangementId }, 'the recipient registered no revocation_uri');
      return false;
    }
    try {
      const notice = await this.#sign({ cdr_arrangement_id: arrangementId }, endpoint);
      const authentication = await this.#sign({ sub: this.#options.issuer }, endpoint);
      const answer = await this.#options.outbound.postForm(
        endpoint,
        new URLSearchParams({ cdr_arrangement_jwt: notice }),
        { authorization: `Bearer ${authentication}` },
      );
      const acknowledged = answer.status >= 200 && answer.status < 300;
      this.#options.logger.info(
        { clientId, arrangementId, status: answer.status },
        'recipient notified of the arrangement revocation',
      );
      return acknowledged;
    } catch (error) {
      this.#options.logger.warn(
        { clientId, arrangementId, err: (error as Error).message },
        'the recipient could not be notified of the arrangement revocation',
      );
      return false;
    }
  }

  async #sign(claims: Record<string, unknown>, audience: string): Promise<string> {
    const jwk = this.#options
      .signingKeys()
      .find((key) => key.alg === 'PS256' && !(key.key_ops && !key.key_ops.includes('sign')));
    if (!jwk) throw new Error('no PS256 signing key in force');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      ...claims,
      iss: this.#options.issuer,
      aud: audience,
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
    })
      .setProtectedHeader({ alg: 'PS256', kid: jwk.kid!, typ: 'JWT' })
      .sign(await importJWK(jwk, 'PS256'));
  }
}
