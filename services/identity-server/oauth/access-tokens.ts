import type { X509Certificate } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { createLocalJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { certificateThumbprint } from '../../../lib/http/certificate-thumbprint.ts';
import { InsufficientScope, InvalidClient, InvalidToken } from '../../../lib/http/errors.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { AccessTokenClaims } from '../dcr/dependencies.ts';
import type { RevocationStore } from '../revocation/store.ts';
import type { SigningKeySet } from './signing-keys.ts';

/**
 * Validation of this server's own JWT access tokens, for its own endpoints (DCR, structured-token
 * introspection): signature by a published signing key, issuer, audience, expiry, not revoked, and the
 * client still registered.
 *
 * Revocation: oidc-provider cannot revoke structured (JWT) tokens — it does not store them — so
 * `/oauth2/revoke` for a JWT records its `jti` in the revocations the gateways also follow (see
 * structured-tokens.ts and revocation/store.ts), and this verifier rejects a token whose `jti` or client
 * is listed there.
 */
export class AccessTokenVerifier {
  readonly #db: Database;
  readonly #revocations: RevocationStore;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #keys: () => SigningKeySet;
  #jwks: { fingerprint: string; get: ReturnType<typeof createLocalJWKSet> } | undefined;

  constructor(
    db: Database,
    options: { issuer: string; audience: string; keys: () => SigningKeySet; revocations: RevocationStore },
  ) {
    this.#db = db;
    this.#revocations = options.revocations;
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#keys = options.keys;
  }

  /** Signature, issuer, audience and expiry only (no database): undefined when any check fails. */
  async decode(token: string): Promise<(JWTPayload & AccessTokenClaims) | undefined> {
    try {
      return await this.#verifySignature(token);
    } catch {
      return undefined;
    }
  }

  /** Everything, with the reason on failure as an `InvalidToken` (401, `WWW-Authenticate`). */
  async verify(token: string): Promise<AccessTokenClaims> {
    let claims: JWTPayload & AccessTokenClaims;
    try {
      claims = await this.#verifySignature(token);
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new InvalidToken('the access token has expired');
      throw new InvalidToken('the access token is not valid');
    }
    if (!(await this.clientExists(claims.client_id))) {
      // docs/dcr-rules.md: a deleted client is an invalid client, whatever the state of its tokens.
      throw new InvalidClient('the client of this access token is no longer registered');
    }
    if (await this.isRevoked(claims)) throw new InvalidToken('the access token has been revoked');
    return claims;
  }

  isRevoked(claims: AccessTokenClaims): Promise<boolean> {
    return this.#revocations.isRevoked(claims);
  }

  async clientExists(clientId: string): Promise<boolean> {
    const { rows } = await this.#db.query('SELECT 1 FROM clients WHERE client_id = $1', [clientId]);
    return rows.length > 0;
  }

  /** Refuses a token here and at every gateway until its own expiry. */
  revoke(claims: AccessTokenClaims): Promise<void> {
    return this.#revocations.revokeToken(claims.jti, claims.exp);
  }

  async #verifySignature(token: string): Promise<JWTPayload & AccessTokenClaims> {
    const keys = this.#keys();
    if (this.#jwks?.fingerprint !== keys.fingerprint) {
      this.#jwks = { fingerprint: keys.fingerprint, get: createLocalJWKSet(keys.publicJwks) };
    }
    const { payload } = await jwtVerify(token, this.#jwks.get, {
      issuer: this.#issuer,
      audience: this.#audience,
      algorithms: ['PS256'],
      typ: 'at+jwt',
      requiredClaims: ['jti', 'exp', 'client_id'],
    });
    if (typeof payload.client_id !== 'string' || typeof payload.jti !== 'string') {
      throw new InvalidToken('the access token is not valid');
    }
    return { scope: '', ...payload } as JWTPayload & AccessTokenClaims;
  }
}

/**
 * Authorizes a request carrying one of this server's bearer tokens: valid (see `verify`), bound
 * (RFC 8705 `cnf.x5t#S256`) to the client certificate the request presents — CDR tokens always are — and
 * holding `scope`.
 */
export async function authorizeBearer(
  request: FastifyRequest,
  deps: {
    verifyAccessToken(token: string): Promise<AccessTokenClaims>;
    clientCertificate(request: FastifyRequest): X509Certificate | undefined;
  },
  scope: string,
): Promise<AccessTokenClaims> {
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(request.headers.authorization ?? '');
  if (!match) throw new InvalidToken('a Bearer access token is required');
  const claims = await deps.verifyAccessToken(match[1]!);
  const certificate = deps.clientCertificate(request);
  if (!certificate)
    throw new InvalidToken('the access token is certificate-bound: present the client certificate');
  if (claims.cnf?.['x5t#S256'] !== certificateThumbprint(certificate)) {
    throw new InvalidToken('the access token is not bound to the presented client certificate');
  }
  if (!claims.scope.split(' ').includes(scope)) throw new InsufficientScope(scope);
  return claims;
}
