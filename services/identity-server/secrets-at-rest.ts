import { resealColumn, type SecretBox, sealPlaintextSigningKeys } from '../../lib/secrets/index.ts';
import type { Database } from '../../lib/storage/index.ts';

/**
 * Run at every start, before anything reads a secret: rows written in plain text by an earlier version
 * (signing keys, key-manager client secrets) are sealed and their plaintext emptied, and values sealed
 * under a key being rotated out are re-sealed under the current one. Idempotent, one transaction, safe
 * when replicas start together; a sealed value no configured key opens stops the start (ConfigError).
 */
export async function encryptSecretsAtRest(db: Database, secrets: SecretBox): Promise<void> {
  const sealedPlaintext = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-secrets-at-rest']);
    const sealedKeys = await sealPlaintextSigningKeys(tx, secrets);
    const clients = await tx.query<{ client_id: string; client_secret: string }>(
      'SELECT client_id, client_secret FROM clients WHERE client_secret IS NOT NULL',
    );
    for (const row of clients.rows) {
      await tx.query(
        'UPDATE clients SET client_secret_sealed = $2, client_secret = NULL WHERE client_id = $1',
        [row.client_id, secrets.seal(row.client_secret)],
      );
    }
    await resealColumn(tx, secrets, { table: 'signing_keys', id: 'kid', column: 'sealed_private_jwk' });
    await resealColumn(tx, secrets, { table: 'clients', id: 'client_id', column: 'client_secret_sealed' });
    await resealColumn(tx, secrets, { table: 'server_secrets', id: 'name', column: 'sealed' });
    return sealedKeys + clients.rows.length;
  });
  // The plaintext row versions stay in the table files until rewritten (the WAL recycles its own).
  if (sealedPlaintext > 0) await db.exec('VACUUM (FULL) signing_keys, clients');
}
