import type { Queryable } from '../storage/index.ts';
import type { SecretBox } from './secret-box.ts';

export interface SealedColumn {
  table: string;
  /** The row's primary key column. */
  id: string;
  column: string;
}

/**
 * Re-encrypts under the current key every value of a sealed column that another key sealed (one being
 * rotated out). Run at start: a value no configured key opens stops the start with the setting named.
 */
export async function resealColumn(tx: Queryable, box: SecretBox, target: SealedColumn): Promise<number> {
  const { table, id, column } = target;
  const { rows } = await tx.query<{ id: string; sealed: string }>(
    `SELECT ${id} AS id, ${column} AS sealed FROM ${table}
      WHERE ${column} IS NOT NULL AND NOT starts_with(${column}, $1)`,
    [box.currentPrefix],
  );
  for (const row of rows) {
    await tx.query(`UPDATE ${table} SET ${column} = $2 WHERE ${id} = $1`, [
      row.id,
      box.seal(box.open(row.sealed)),
    ]);
  }
  return rows.length;
}

/**
 * Seals the signing keys an earlier version stored in plain text (`signing_keys.private_jwk`, in the
 * identity server's and api-manager's schemas alike) and empties the plaintext. Returns how many.
 */
export async function sealPlaintextSigningKeys(tx: Queryable, box: SecretBox): Promise<number> {
  const keys = await tx.query<{ kid: string; private_jwk: unknown }>(
    'SELECT kid, private_jwk FROM signing_keys WHERE private_jwk IS NOT NULL',
  );
  for (const row of keys.rows) {
    await tx.query('UPDATE signing_keys SET sealed_private_jwk = $2, private_jwk = NULL WHERE kid = $1', [
      row.kid,
      box.seal(JSON.stringify(row.private_jwk)),
    ]);
  }
  return keys.rows.length;
}
