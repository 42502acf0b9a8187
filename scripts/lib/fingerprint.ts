import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Fingerprints of what obkit applied, kept in the target's own records (a key manager's or a revision's
 * description) so a re-run can tell "unchanged" from "updated" even where the server masks secrets.
 * They cover credentials, so they are HMACs under a key that is never stored beside them: an
 * unsalted hash would let anyone who reads the description test password guesses offline.
 *
 * The key: `OBKIT_FINGERPRINT_KEY` (e.g. from a Kubernetes Secret), else `<state-dir>/fingerprint.key`,
 * 32 random bytes made on first use (0600). Where neither can be had (a read-only state directory), a
 * key for this run only: the step stays correct and re-applies its settings once per run.
 */

export interface FingerprintKey {
  key: Buffer;
  /** Where it came from; `ephemeral` keys make every run re-apply once. */
  source: 'environment' | 'file' | 'ephemeral';
}

export const FINGERPRINT_KEY_FILE = 'fingerprint.key';

export async function fingerprintKey(
  stateDir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<FingerprintKey> {
  if (env.OBKIT_FINGERPRINT_KEY)
    return { key: Buffer.from(env.OBKIT_FINGERPRINT_KEY), source: 'environment' };
  if (stateDir) {
    const file = join(stateDir, FINGERPRINT_KEY_FILE);
    try {
      const stored = await readFile(file);
      if (stored.length >= 32) return { key: stored, source: 'file' };
    } catch {}
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const key = randomBytes(32);
      // `wx`: never overwrite a key another run just made.
      await writeFile(file, key, { mode: 0o600, flag: 'wx' });
      return { key, source: 'file' };
    } catch {
      try {
        const stored = await readFile(file);
        if (stored.length >= 32) return { key: stored, source: 'file' };
      } catch {}
    }
  }
  return { key: randomBytes(32), source: 'ephemeral' };
}

/** HMAC-SHA256 of `value` (as JSON), hex, `length` characters. */
export function fingerprint(key: FingerprintKey, value: unknown, length = 16): string {
  return createHmac('sha256', key.key).update(JSON.stringify(value)).digest('hex').slice(0, length);
}
