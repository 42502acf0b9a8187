import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Database } from '../../lib/storage/index.ts';

/**
 * AES-256-GCM for the few secrets api-manager must give back or use later (management client secrets
 * returned again on idempotent registration, key-manager connector passwords, consumer secrets).
 * The key lives in the service's own schema, so a copy of one table alone reveals nothing.
 */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export async function openSecretBox(db: Database): Promise<SecretBox> {
  await db.query('INSERT INTO master_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [
    randomBytes(32).toString('base64'),
  ]);
  const row = await db.query<{ key: string }>('SELECT key FROM master_key WHERE id = 1');
  const key = Buffer.from(row.rows[0]!.key, 'base64');
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return [
        'v1',
        iv.toString('base64'),
        cipher.getAuthTag().toString('base64'),
        data.toString('base64'),
      ].join('.');
    },
    open(sealed) {
      const [version, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('unreadable sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
    },
  };
}
