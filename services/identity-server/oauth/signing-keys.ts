import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database, Queryable } from '../../../lib/storage/index.ts';

/**
 * Token signing keys, persisted in `signing_keys` so every replica signs and publishes the same set,
 * the private JWK encrypted (`sealed_private_jwk`, lib/secrets) with the key kept outside the database.
 * One active key per algorithm signs (the newest not retired); a rotated-out key is retired but stays
 * published for `RETIRED_KEY_RETENTION_SECONDS`, so tokens it signed keep verifying until they expire.
 *
 * PS256 (RSA 2048) signs access tokens and is the default for ID tokens; ES256 (P-256) exists so clients
 * may register `id_token_signed_response_alg: ES256`, as CDR allows.
 */
export const SIGNING_ALGORITHMS = ['PS256', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Longest access-token lifetime plus clock skew: how long a retired key must stay published. */
export const RETIRED_KEY_RETENTION_SECONDS = 3600 + 300;

export interface SigningKeySet {
  /** Private JWKs for oidc-provider: active signers first, retired keys marked verify-only. */
  privateJwks: { keys: JWK[] };
  /** Public JWKs of every published key (what /oauth2/jwks serves). */
  publicJwks: { keys: JWK[] };
  /** Changes whenever the published set changes (rotation, retirement, pruning). */
  fingerprint: string;
}

interface KeyRow {
  kid: string;
  sealed_private_jwk: string;
  retired_at: Date | string | null;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

async function generateSigningJwk(alg: SigningAlgorithm): Promise<JWK> {
  const { privateKey } =
    alg === 'PS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = (privateKey as KeyObject).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg, use: 'sig' };
}

async function insertKey(tx: Queryable, secrets: SecretBox, alg: SigningAlgorithm): Promise<string> {
  const jwk = await generateSigningJwk(alg);
  await tx.query('INSERT INTO signing_keys (kid, alg, sealed_private_jwk) VALUES ($1, $2, $3)', [
    jwk.kid,
    alg,
    secrets.seal(JSON.stringify(jwk)),
  ]);
  return jwk.kid!;
}

/** Creates the missing active key of each algorithm (first start). Safe when replicas start together. */
export async function ensureSigningKeys(db: Database, secrets: SecretBox): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-signing-keys']);
    const { rows } = await tx.query<{ alg: string }>('SELECT alg FROM signing_keys WHERE retired_at IS NULL');
    const present = new Set(rows.map((row) => row.alg));
    for (const alg of SIGNING_ALGORITHMS) if (!present.has(alg)) await insertKey(tx, secrets, alg);
  });
}

/**
 * Starts signing with a new key of `alg` and retires the previous one, which stays published until
 * `RETIRED_KEY_RETENTION_SECONDS` have passed. Running servers pick the new set up on their next key
 * refresh (`IdentityServer.reloadSigningKeys()`, or the periodic refresh). Returns the new kid.
 */
export async function rotateSigningKey(
  db: Database,
  secrets: SecretBox,
  alg: SigningAlgorithm = 'PS256',
): Promise<string> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-signing-keys']);
    await tx.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL AND alg = $1', [alg]);
    return insertKey(tx, secrets, alg);
  });
}

/** Deletes retired keys past their retention: nothing they signed can still be valid. */
export async function pruneSigningKeys(db: Database): Promise<number> {
  const result = await db.query(
    `DELETE FROM signing_keys WHERE retired_at IS NOT NULL
       AND retired_at < now() - make_interval(secs => $1)`,
    [RETIRED_KEY_RETENTION_SECONDS],
  );
  return result.rowCount;
}

/**
 * The published set. Private keys are decrypted only when new: a refresh that finds the kids of
 * `previous` decrypts nothing.
 */
export async function loadSigningKeys(
  db: Database,
  secrets: SecretBox,
  previous?: SigningKeySet,
): Promise<SigningKeySet> {
  const { rows } = await db.query<KeyRow>(
    `SELECT kid, sealed_private_jwk, retired_at FROM signing_keys
      WHERE retired_at IS NULL OR retired_at >= now() - make_interval(secs => $1)
      ORDER BY (retired_at IS NULL) DESC, created_at DESC, kid`,
    [RETIRED_KEY_RETENTION_SECONDS],
  );
  const known = new Map(previous?.privateJwks.keys.map((jwk) => [jwk.kid, jwk]));
  const activeAlgs = new Set<string>();
  const privateKeys: JWK[] = [];
  for (const row of rows) {
    const { key_ops: _, ...stored } =
      known.get(row.kid) ?? (JSON.parse(secrets.open(row.sealed_private_jwk)) as JWK);
    const jwk: JWK = stored;
    // Only the newest non-retired key of an algorithm signs; every other published key only verifies.
    if (row.retired_at === null && !activeAlgs.has(jwk.alg!)) activeAlgs.add(jwk.alg!);
    else jwk.key_ops = ['verify'];
    privateKeys.push(jwk);
  }
  const publicKeys = privateKeys.map((jwk) => {
    const pub: Record<string, unknown> = { ...jwk };
    for (const member of PRIVATE_MEMBERS) delete pub[member];
    delete pub.key_ops;
    return pub as JWK;
  });
  const fingerprint = privateKeys.map((jwk) => `${jwk.kid}:${jwk.key_ops ? 'v' : 's'}`).join(',');
  return { privateJwks: { keys: privateKeys }, publicJwks: { keys: publicKeys }, fingerprint };
}
