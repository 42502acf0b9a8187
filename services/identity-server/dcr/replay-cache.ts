import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { Queryable } from '../../../lib/storage/index.ts';

export type JtiPurpose = 'dcr-request' | 'dcr-ssa';

/**
 * Records a jti until `expiresAt` (seconds), inside the caller's transaction, so a request that fails
 * later leaves no trace. A jti whose earlier entry has expired is taken afresh; a live one is a replay.
 * The cache is a table, so every replica sees every jti; concurrent twins serialise on the primary key.
 */
export async function rememberJti(
  tx: Queryable,
  purpose: JtiPurpose,
  jti: string,
  expiresAt: number,
  replayed: string,
): Promise<void> {
  const result = await tx.query(
    `INSERT INTO seen_jtis (purpose, jti, expires_at) VALUES ($1, $2, to_timestamp($3))
     ON CONFLICT (purpose, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
       WHERE seen_jtis.expires_at < now()`,
    [purpose, jti, expiresAt],
  );
  if (result.rowCount === 0) throw new InvalidClientMetadata(replayed);
}

/** Forgets jtis past their lifetime: they could be taken afresh anyway, so the table need not keep them. */
export async function pruneExpiredJtis(db: Queryable): Promise<number> {
  return (await db.query('DELETE FROM seen_jtis WHERE expires_at < now()')).rowCount;
}
