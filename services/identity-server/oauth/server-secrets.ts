import { randomBytes } from 'node:crypto';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database } from '../../../lib/storage/index.ts';

/**
 * A random secret every replica shares and a restart keeps (the consent cookie key, the pairwise subject
 * salt): the first replica to ask creates it, sealed; the others read that one.
 */
export async function serverSecret(db: Database, secrets: SecretBox, name: string): Promise<string> {
  await db.query('INSERT INTO server_secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
    name,
    secrets.seal(randomBytes(32).toString('base64url')),
  ]);
  const { rows } = await db.query<{ sealed: string }>('SELECT sealed FROM server_secrets WHERE name = $1', [
    name,
  ]);
  return secrets.open(rows[0]!.sealed);
}
