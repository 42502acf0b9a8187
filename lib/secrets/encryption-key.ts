import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Config, ConfigError } from '../config/index.ts';

/**
 * The key that encrypts secrets at rest, kept outside the database it protects: the value of
 * `obkit.secrets.encryption_key` (OBKIT_ENCRYPTION_KEY; a Kubernetes Secret in the chart), else the file
 * `obkit.secrets.encryption_key_file` (sandbox: default `<state_dir>/encryption.key`, generated
 * owner-only). Base64 of 32 random bytes (`openssl rand -base64 32`). Read by the services that store
 * secrets (identity server, api-manager) when they start.
 */
export interface EncryptionKeys {
  current: Buffer;
  /** Keys being rotated out: they still decrypt. */
  previous: Buffer[];
  /** The setting the current key came from, for error messages. */
  setting: string;
}

const KEY_BYTES = 32;

export function encryptionKeysOf(config: Config): EncryptionKeys {
  const { encryption_key, encryption_key_file, previous_encryption_keys } = config.obkit.secrets;
  const previous = previous_encryption_keys.map((text, index) =>
    decodeKey(text, `obkit.secrets.previous_encryption_keys[${index}]`),
  );
  if (encryption_key) {
    const setting = 'obkit.secrets.encryption_key (OBKIT_ENCRYPTION_KEY)';
    return { current: decodeKey(encryption_key, setting), previous, setting };
  }
  if (!encryption_key_file) {
    throw new ConfigError(
      'obkit.secrets.encryption_key_file',
      'required outside sandbox mode: the key that encrypts secrets in the database, kept outside it (set OBKIT_ENCRYPTION_KEY or obkit.secrets.encryption_key_file)',
    );
  }
  const setting = `obkit.secrets.encryption_key_file (${encryption_key_file})`;
  return { current: readKeyFile(config, encryption_key_file, setting), previous, setting };
}

function readKeyFile(config: Config, file: string, setting: string): Buffer {
  try {
    return decodeKey(readFileSync(file, 'utf8'), setting);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        'obkit.secrets.encryption_key_file',
        `cannot read ${file}: ${(error as Error).message}`,
      );
    }
  }
  if (config.obkit.mode !== 'sandbox') {
    throw new ConfigError(
      'obkit.secrets.encryption_key_file',
      `${file} does not exist (production never generates the encryption key: provide it, or set OBKIT_ENCRYPTION_KEY)`,
    );
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another service of the same state directory created it first: every one uses that key.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readKeyFile(config, file, setting);
}

function decodeKey(text: string, setting: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) || key.length !== KEY_BYTES) {
    throw new ConfigError(
      setting.split(' ')[0]!,
      `must be the base64 of ${KEY_BYTES} random bytes (openssl rand -base64 32); found ${key.length} bytes`,
    );
  }
  return key;
}
