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
