import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database } from '../../../lib/storage/index.ts';

/**
 * The resident key manager's tokens: ES256 JWTs (so the gateway can self-validate them through
 * `/oauth2/jwks`), also recorded by hash so that a token is only good while its record exists.
 */

export const TOKEN_LIFETIME_SECONDS = 3600;

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  scopes: string[];
}

export interface TokenClaims {
  clientId: string;
  username: string | undefined;
  scopes: string[];
}

export interface TokenService {
  issue(input: { clientId: string; username?: string | undefined; scopes: string[] }): Promise<IssuedToken>;
  /** The token's claims, or undefined when it is not a live token of this key manager. */
  verify(token: string): Promise<TokenClaims | undefined>;
  jwks(): { keys: JWK[] };
  issuer(): string;
}

export async function createTokenService(
  db: Database,
  secrets: SecretBox,
  issuer: () => string,
): Promise<TokenService> {
  const { privateJwk, kid } = await loadOrCreateSigningKey(db, secrets);
  const privateKey = await importJWK(privateJwk, 'ES256');
  const { d: _private, ...publicJwk } = privateJwk;
  const publicKey = await importJWK(publicJwk, 'ES256');

  return {
    issuer,
    jwks: () => ({ keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] }),
    async issue({ clientId, username, scopes }) {
      const token = await new SignJWT({
        azp: clientId,
        client_id: clientId,
        scope: scopes.join(' '),
        aut: username ? 'APPLICATION_USER' : 'APPLICATION',
      })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(issuer())
        .setSubject(username ?? clientId)
        // The client, as WSO2's resident key manager does, and this key manager itself: the audience the
        // gateway requires of its tokens (feed/build-snapshot.ts).
        .setAudience([clientId, issuer()])
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(`${TOKEN_LIFETIME_SECONDS}s`)
        .sign(privateKey);
      await db.query(
        `INSERT INTO access_tokens (token_hash, client_id, username, scopes, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
        [hashToken(token), clientId, username ?? null, scopes.join(' '), TOKEN_LIFETIME_SECONDS],
      );
      // Expired rows are useless; sweep a few on each issue instead of running a timer.
      await db.query(
        'DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens WHERE expires_at < now() LIMIT 50)',
      );
      return { accessToken: token, expiresIn: TOKEN_LIFETIME_SECONDS, scopes };
    },
    async verify(token) {
      try {
        await jwtVerify(token, publicKey, { issuer: issuer(), algorithms: ['ES256'] });
      } catch {
        return undefined;
      }
      const row = await db.query<{ client_id: string; username: string | null; scopes: string }>(
        'SELECT client_id, username, scopes FROM access_tokens WHERE token_hash = $1 AND expires_at > now()',
        [hashToken(token)],
      );
      const record = row.rows[0];
      if (!record) return undefined;
      return {
        clientId: record.client_id,
        username: record.username ?? undefined,
        scopes: record.scopes.split(' ').filter(Boolean),
      };
    },
  };
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The signing key, decrypted once here; stored sealed (lib/secrets) with the key kept outside the database. */
async function loadOrCreateSigningKey(
  db: Database,
  secrets: SecretBox,
): Promise<{ privateJwk: JWK; kid: string }> {
  const existing = await db.query<{ kid: string; sealed_private_jwk: string }>(
    'SELECT kid, sealed_private_jwk FROM signing_keys ORDER BY created_at, kid LIMIT 1',
  );
  const row = existing.rows[0];
  if (row) return { privateJwk: JSON.parse(secrets.open(row.sealed_private_jwk)) as JWK, kid: row.kid };
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = randomUUID();
  await db.query('INSERT INTO signing_keys (kid, sealed_private_jwk) VALUES ($1, $2)', [
    kid,
    secrets.seal(JSON.stringify(privateJwk)),
  ]);
  // Replicas starting together: whichever key was stored first wins for all of them.
  return loadOrCreateSigningKey(db, secrets);
}
