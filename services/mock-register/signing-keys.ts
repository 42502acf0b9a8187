import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import type { Database, Queryable } from '../../lib/storage/index.ts';

const ALG = 'PS256';

interface KeyRow {
  kid: string;
  private_jwk: JWK;
}

/**
 * The Register's SSA signing keys (PS256, RSA 2048), persisted so that every replica and every restart
 * signs with a key Data Holders already trust. Rotation makes a new key the signer and keeps the
 * previous ones in the published JWKS for `retentionSeconds`, so SSAs signed just before a rotation
 * still verify.
 */
export class RegisterSigningKeys {
  readonly #db: Database;
  readonly #retentionSeconds: number;
  readonly #imported = new Map<string, CryptoKey>();

  constructor(db: Database, retentionSeconds: number) {
    this.#db = db;
    this.#retentionSeconds = retentionSeconds;
  }

  /** Generates the first key unless one is active; replicas starting together agree on one key. */
  async ensureActive(): Promise<string> {
    return this.#db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-mock-register-signing-key']);
      const active = await tx.query<{ kid: string }>('SELECT kid FROM signing_keys WHERE retired_at IS NULL');
      return active.rows[0]?.kid ?? (await insertKey(tx));
    });
  }

  /** Retires the signing key and starts signing with a new one; returns the new kid. */
  async rotate(): Promise<string> {
    return this.#db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-mock-register-signing-key']);
      await tx.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL');
      return insertKey(tx);
    });
  }

  /** Public keys of the signer and of keys retired within the retention period, newest first. */
  async publishedJwks(): Promise<{ keys: JWK[] }> {
    const result = await this.#db.query<{ public_jwk: JWK }>(
      `SELECT public_jwk FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
        ORDER BY created_at DESC, kid`,
      [this.#retentionSeconds],
    );
    return { keys: result.rows.map((row) => row.public_jwk) };
  }

  /** Signs claims as a JWT with the current key: header `alg` PS256, `kid`, `typ` JWT. */
  async sign(claims: JWTPayload): Promise<string> {
    const { rows } = await this.#db.query<KeyRow>(
      'SELECT kid, private_jwk FROM signing_keys WHERE retired_at IS NULL',
    );
    const row = rows[0];
    if (!row) throw new Error('the Register has no active signing key');
    let key = this.#imported.get(row.kid);
    if (!key) {
      key = (await importJWK(row.private_jwk, ALG)) as CryptoKey;
      this.#imported.set(row.kid, key);
    }
    return new SignJWT(claims).setProtectedHeader({ alg: ALG, kid: row.kid, typ: 'JWT' }).sign(key);
  }
}

async function insertKey(tx: Queryable): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  await tx.query(
    'INSERT INTO signing_keys (kid, private_jwk, public_jwk) VALUES ($1, $2::jsonb, $3::jsonb)',
    [
      kid,
      JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALG }),
      JSON.stringify({ ...publicJwk, kid, alg: ALG, use: 'sig' }),
    ],
  );
  return kid;
}
