import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../lib/config/index.ts';
import { tightenTree } from '../../lib/process/owner-only.ts';
import {
  encryptionKeysOf,
  hashSecret,
  SecretBox,
  secretMatchesHash,
  UnknownEncryptionKey,
} from '../../lib/secrets/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-secrets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const key = () => randomBytes(32).toString('base64');
const production = (secrets: Record<string, unknown>) =>
  loadConfig({
    env: {},
    overrides: {
      obkit: {
        mode: 'production',
        state_dir: dir,
        admin: { password: randomBytes(18).toString('base64url') },
        secrets,
      },
      open_banking: { dcr: { jwks_url_production: 'https://register.example/jwks' } },
    },
  });
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('the encryption key', () => {
  it('is generated once per sandbox state directory, owner-only, and shared by every reader', async () => {
    const config = loadConfig({ env: {}, overrides: { obkit: { state_dir: dir } } });
    const first = encryptionKeysOf(config);
    const file = join(dir, 'encryption.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from(await readFile(file, 'utf8'), 'base64')).toEqual(first.current);
    expect(encryptionKeysOf(config).current).toEqual(first.current);
  });

  it('comes from OBKIT_ENCRYPTION_KEY before any file', () => {
    const value = key();
    const config = loadConfig({
      env: { OBKIT_ENCRYPTION_KEY: value },
      overrides: { obkit: { state_dir: dir } },
    });
    expect(encryptionKeysOf(config).current).toEqual(Buffer.from(value, 'base64'));
  });

  it('is required in production, naming the setting, and never generated there', async () => {
    const none = refusal(() => encryptionKeysOf(production({})));
    expect(none.key).toBe('obkit.secrets.encryption_key_file');
    expect(none.message).toMatch(/required outside sandbox mode.*OBKIT_ENCRYPTION_KEY/);
    await expect(stat(join(dir, 'encryption.key'))).rejects.toThrow();
    const missing = join(dir, 'absent.key');
    const error = refusal(() => encryptionKeysOf(production({ encryption_key_file: missing })));
    expect(error.key).toBe('obkit.secrets.encryption_key_file');
    expect(error.message).toContain(missing);
    await expect(stat(missing)).rejects.toThrow();
    const given = join(dir, 'given.key');
    await writeFile(given, key(), { mode: 0o600 });
    expect(encryptionKeysOf(production({ encryption_key_file: given })).current).toHaveLength(32);
  });

  it('refuses a key that is not 32 bytes of base64, without echoing it', async () => {
    const short = randomBytes(16).toString('base64');
    const error = refusal(() => encryptionKeysOf(production({ encryption_key: short })));
    expect(error.key).toBe('obkit.secrets.encryption_key');
    expect(error.message).toMatch(/base64 of 32 random bytes/);
    expect(error.message).not.toContain(short);
    const file = join(dir, 'bad.key');
    await writeFile(file, 'not a key');
    expect(refusal(() => encryptionKeysOf(production({ encryption_key_file: file }))).key).toBe(
      'obkit.secrets.encryption_key_file',
    );
  });
});

describe('SecretBox', () => {
  const boxOf = (current: string, previous: string[] = []) =>
    new SecretBox({
      current: Buffer.from(current, 'base64'),
      previous: previous.map((text) => Buffer.from(text, 'base64')),
      setting: 'obkit.secrets.encryption_key (OBKIT_ENCRYPTION_KEY)',
    });

  it('seals with a fresh IV each time and opens what it sealed', () => {
    const box = boxOf(key());
    const a = box.seal('client-secret');
    const b = box.seal('client-secret');
    expect(a).not.toBe(b);
    expect(a.startsWith(box.currentPrefix)).toBe(true);
    expect(a).not.toContain('client-secret');
    expect(box.open(a)).toBe('client-secret');
  });

  it('refuses a tampered value', () => {
    const box = boxOf(key());
    const parts = box.seal('client-secret').split('.');
    parts[4] = Buffer.from('client-secreT').toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow(/unable to authenticate/i);
  });

  it('names the setting when a value was sealed under a key it does not hold', () => {
    const old = key();
    const sealed = boxOf(old).seal('client-secret');
    const error = refusal(() => boxOf(key()).open(sealed));
    expect(error).toBeInstanceOf(UnknownEncryptionKey);
    expect(error.key).toBe('obkit.secrets.encryption_key');
    expect(error.message).not.toContain(old);
    // Rotation: the previous key still opens, the new one seals.
    const rotated = boxOf(key(), [old]);
    expect(rotated.open(sealed)).toBe('client-secret');
    expect(rotated.seal('x').startsWith(rotated.currentPrefix)).toBe(true);
  });
});

describe('hashed secrets', () => {
  it('match only the secret they were made from', () => {
    const hash = hashSecret('s3cret-value');
    expect(hash).not.toContain('s3cret-value');
    expect(secretMatchesHash('s3cret-value', hash)).toBe(true);
    expect(secretMatchesHash('s3cret-valuE', hash)).toBe(false);
    expect(secretMatchesHash('', hash)).toBe(false);
  });
});

describe('tightenTree', () => {
  it('removes group and other permissions below a directory, leaving symbolic links alone', async () => {
    const root = join(dir, 'state');
    await mkdir(join(root, 'data', 'old'), { recursive: true });
    await writeFile(join(root, 'data', 'old', 'file'), 'x');
    await chmod(join(root, 'data', 'old', 'file'), 0o666);
    await chmod(join(root, 'data', 'old'), 0o755);
    await chmod(root, 0o777);
    const outside = join(dir, 'outside');
    await writeFile(outside, 'x');
    await chmod(outside, 0o644);
    await symlink(outside, join(root, 'link'));
    await tightenTree(root);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'data', 'old'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'data', 'old', 'file'))).mode & 0o777).toBe(0o600);
    expect((await stat(outside)).mode & 0o777).toBe(0o644);
  });
});
