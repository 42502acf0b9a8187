import { createDecipheriv } from 'node:crypto';
import {
  hashSecret,
  resealColumn,
  type SecretBox,
  sealPlaintextSigningKeys,
} from '../../lib/secrets/index.ts';
import type { Database, Queryable } from '../../lib/storage/index.ts';

/**
 * Run at every start, before anything reads a secret. What an earlier version sealed with the key it
 * kept in its own database (`master_key`) is re-sealed under the key kept outside it — an application's
 * client secret is replaced by its hash — and `master_key` is dropped; plaintext signing keys are
 * sealed; values sealed under a key being rotated out are re-sealed under the current one. Idempotent,
 * one transaction, safe when replicas start together; a value no configured key opens stops the start.
 */
export async function encryptSecretsAtRest(db: Database, secrets: SecretBox): Promise<void> {
  const migrated = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['obkit-secrets-at-rest']);
    let count = await replaceMasterKey(tx, secrets);
    count += await sealPlaintextSigningKeys(tx, secrets);
    await resealColumn(tx, secrets, { table: 'signing_keys', id: 'kid', column: 'sealed_private_jwk' });
    await resealColumn(tx, secrets, { table: 'clients', id: 'client_id', column: 'secret_encrypted' });
    await resealColumn(tx, secrets, { table: 'key_managers', id: 'id', column: 'secrets_encrypted' });
    return count;
  });
  // The old row versions stay in the table files until rewritten (the WAL recycles its own).
  if (migrated > 0) await db.exec('VACUUM (FULL) signing_keys, clients, key_managers');
}

/** Re-seals what the in-database key sealed, then drops it. Returns how many values moved. */
async function replaceMasterKey(tx: Queryable, secrets: SecretBox): Promise<number> {
  const table = await tx.query<{ exists: boolean }>("SELECT to_regclass('master_key') IS NOT NULL AS exists");
  if (!table.rows[0]!.exists) return 0;
  const row = await tx.query<{ key: string }>('SELECT key FROM master_key WHERE id = 1');
  let count = 0;
  if (row.rows[0]) {
    const masterKey = Buffer.from(row.rows[0].key, 'base64');
    const clients = await tx.query<{ client_id: string; kind: string; secret_encrypted: string }>(
      "SELECT client_id, kind, secret_encrypted FROM clients WHERE starts_with(secret_encrypted, 'v1.')",
    );
    for (const client of clients.rows) {
      const secret = openLegacy(masterKey, client.secret_encrypted);
      await tx.query('UPDATE clients SET secret_encrypted = $2, secret_hash = $3 WHERE client_id = $1', [
        client.client_id,
        client.kind === 'application' ? null : secrets.seal(secret),
        client.kind === 'application' ? hashSecret(secret) : null,
      ]);
    }
    const keyManagers = await tx.query<{ id: string; secrets_encrypted: string }>(
      "SELECT id, secrets_encrypted FROM key_managers WHERE starts_with(secrets_encrypted, 'v1.')",
    );
    for (const keyManager of keyManagers.rows) {
      await tx.query('UPDATE key_managers SET secrets_encrypted = $2 WHERE id = $1', [
        keyManager.id,
        secrets.seal(openLegacy(masterKey, keyManager.secrets_encrypted)),
      ]);
    }
    count = clients.rows.length + keyManagers.rows.length + 1;
  }
  await tx.query('DROP TABLE master_key');
  return count;
}

/** The earlier version's format: `v1.<iv>.<tag>.<ciphertext>` (base64), AES-256-GCM. */
function openLegacy(key: Buffer, sealed: string): string {
  const [, iv, tag, data] = sealed.split('.');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64'));
  decipher.setAuthTag(Buffer.from(tag!, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(data!, 'base64')), decipher.final()]).toString('utf8');
}
