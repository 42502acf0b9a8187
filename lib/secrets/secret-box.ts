import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { ConfigError } from '../config/index.ts';
import type { EncryptionKeys } from './encryption-key.ts';

/**
 * AES-256-GCM (node:crypto) for secrets a service must use or give back later: signing keys, client
 * secrets, connector passwords. A sealed value is `v2.<key id>.<iv>.<tag>.<ciphertext>` (base64url): the
 * key id — an HMAC of the key, never the key — says which key opens it, so a key can be rotated (the
 * old one kept in `previous_encryption_keys` until every value is re-sealed) and a wrong key is named
 * as such at start-up instead of failing as a corrupt value.
 */
export class SecretBox {
  readonly keyId: string;
  /** What every value sealed under the current key starts with (for finding the others in SQL). */
  readonly currentPrefix: string;
  readonly #current: Buffer;
  readonly #keys: Map<string, Buffer>;
  readonly #setting: string;

  constructor(keys: EncryptionKeys) {
    this.#current = keys.current;
    this.keyId = keyIdOf(keys.current);
    this.currentPrefix = `v2.${this.keyId}.`;
    this.#keys = new Map([...keys.previous, keys.current].map((key) => [keyIdOf(key), key]));
    this.#setting = keys.setting;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#current, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [this.currentPrefix.slice(0, -1), iv, cipher.getAuthTag(), data]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  open(sealed: string): string {
    const [version, keyId, iv, tag, data] = sealed.split('.');
    if (version !== 'v2' || !keyId || !iv || !tag || data === undefined) {
      throw new Error('unreadable sealed secret (not a v2 sealed value)');
    }
    const key = this.#keys.get(keyId);
    if (!key) throw new UnknownEncryptionKey(keyId, this.keyId, this.#setting);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

/** The database holds values sealed under a key this process was not given: a start-up refusal. */
export class UnknownEncryptionKey extends ConfigError {
  constructor(found: string, configured: string, setting: string) {
    super(
      setting.split(' ')[0]!,
      `the database holds secrets encrypted with key id ${found}, but the key from ${setting} has id ${configured} and no previous key matches: configure the key they were encrypted with (OBKIT_ENCRYPTION_KEY or obkit.secrets.encryption_key_file; when rotating, the old one in obkit.secrets.previous_encryption_keys)`,
    );
    this.name = 'UnknownEncryptionKey';
  }
}

function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('obkit secret box key id').digest('base64url').slice(0, 12);
}

/**
 * A client secret shown once and never given back is kept only as its SHA-256: obkit's secrets are 192+
 * random bits, so a slow password hash would add cost without adding strength (WSO2's client-secret
 * hashing uses SHA-256 likewise).
 */
export function hashSecret(secret: string): string {
  return `sha256.${createHash('sha256').update(secret, 'utf8').digest('base64url')}`;
}

export function secretMatchesHash(secret: string, hash: string): boolean {
  const expected = Buffer.from(hash);
  const actual = Buffer.from(hashSecret(secret));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
