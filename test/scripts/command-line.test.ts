import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** Every script and obkit command answers --help and refuses an unknown flag with its usage. */

const ROOT = join(import.meta.dirname, '..', '..');
const run = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

describe.each([
  'scripts/configure.ts',
  'scripts/configure-key-manager.ts',
  'scripts/publish-dcr-api.ts',
  'scripts/load-truststore.ts',
  'scripts/restart.ts',
  'scripts/smoke-test.ts',
  'bin/obkit.ts configure',
  'bin/obkit.ts truststore',
])('%s', (commandLine) => {
  const command = commandLine.split(' ');
  it('prints its usage on --help and exits 0', async () => {
    const help = await run(...command, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: /);
  });

  it('refuses an unknown flag with the error and its usage, exit 2', async () => {
    const bad = await run(...command, '--no-such-flag');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--no-such-flag'");
    expect(bad.stderr).toContain('Usage: ');
  });
});

describe.each(['scripts/load-truststore.ts', 'bin/obkit.ts truststore'])(
  '%s without an action',
  (commandLine) => {
    it('prints its usage and exits 2, as both front doors run the one truststore command', async () => {
      const bare = await run(...commandLine.split(' '), '--state-dir', join(ROOT, 'no-such-state-dir'));
      expect(bare.code).toBe(2);
      expect(bare.stdout).toBe('');
      expect(bare.stderr).toMatch(/^Usage: .* add CERT\.pem\.\.\./);
    });
  },
);
