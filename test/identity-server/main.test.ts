import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../support/pki.ts';

const MAIN = join(import.meta.dirname, '../../services/identity-server/main.ts');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-is-main-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string>): ChildProcess {
  // Only what the test sets: the developer's own OBKIT_* variables must not leak in.
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('OBKIT') && name !== 'DATABASE_URL'),
  );
  return spawn(process.execPath, [MAIN, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, stdout })));
}

describe('identity-server main', () => {
  it('refuses an invalid key with one line naming it, exit code 2', async () => {
    const result = await exited(run([], { OBKIT__OBKIT__MODE: 'bogus', OBKIT__OBKIT__STATE_DIR: dir }));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^obkit identity-server: invalid configuration: obkit\.mode: /);
  });

  it('refuses production without the Register JWKS URL for production SSAs', async () => {
    const result = await exited(
      run([], {
        OBKIT__OBKIT__MODE: 'production',
        OBKIT__OBKIT__ALLOW_PRIVATE_ADDRESSES: 'false',
        OBKIT__OBKIT__STATE_DIR: dir,
        OBKIT_ADMIN_PASSWORD: 'a-production-password',
      }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('open_banking.dcr.jwks_url_production');
  });

  it('refuses production without an encryption key, naming the setting, exit code 2', async () => {
    const result = await exited(
      run([], {
        OBKIT__OBKIT__MODE: 'production',
        OBKIT__OBKIT__STATE_DIR: dir,
        OBKIT__OPEN_BANKING__DCR__JWKS_URL_PRODUCTION: 'https://register.example/jwks',
        OBKIT_ADMIN_PASSWORD: 'Str0ng-production-Passw0rd!',
        OBKIT_DCR_BACKEND_PASSWORD: 'An0ther-str0ng-Credential!',
      }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^obkit identity-server: invalid configuration: obkit\.secrets\.encryption_key_file: required outside sandbox mode.*OBKIT_ENCRYPTION_KEY/,
    );
  });

  it('refuses jwks_url_sandbox and a weak admin password in production, naming each key, exit code 2', async () => {
    const production = {
      OBKIT__OBKIT__MODE: 'production',
      OBKIT__OBKIT__STATE_DIR: dir,
      OBKIT__OPEN_BANKING__DCR__JWKS_URL_PRODUCTION: 'https://register.example/jwks',
    };
    let result = await exited(
      run([], {
        ...production,
        OBKIT_ADMIN_PASSWORD: 'a-production-password',
        OBKIT__OPEN_BANKING__DCR__JWKS_URL_SANDBOX: 'https://register.example/sandbox-jwks',
      }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^obkit identity-server: invalid configuration: open_banking\.dcr\.jwks_url_sandbox: must be empty in production mode/,
    );
    result = await exited(run([], { ...production, OBKIT_ADMIN_PASSWORD: 'admin' }));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^obkit identity-server: invalid configuration: obkit\.admin\.password: too weak for production mode/,
    );
    // Without the gateway's own DCR backend credential there is no default to fall back on.
    result = await exited(run([], { ...production, OBKIT_ADMIN_PASSWORD: 'a-production-password' }));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^obkit identity-server: invalid configuration: obkit\.dcr_backend\.password: required outside sandbox/,
    );
  });

  it('refuses an unreadable --config file naming it', async () => {
    const result = await exited(run(['--config', join(dir, 'missing.toml')], {}));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('missing.toml');
  });

  it('starts from a TOML file, answers ready, and stops cleanly on SIGTERM', async () => {
    const stateDir = join(dir, 'state');
    const pki: TestPki = await createTestPki(join(stateDir, 'pki'));
    const file = join(dir, 'obkit.toml');
    await writeFile(
      file,
      `[obkit]\nmode = "sandbox"\nstate_dir = "${stateDir}"\nlog_level = "info"\n\n[obkit.identity_server]\nport = 0\n`,
    );
    const child = run(['--config', file], {});
    const done = exited(child);
    const management = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stdout!.on('data', (chunk) => {
        buffered += chunk;
        const match = /"management":"(https:[^"]+)".*identity-server listening/.exec(buffered);
        if (match) resolve(match[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const agent = new Agent({ connect: { ca: pki.ca } });
    try {
      const ready = await request(`${management}/health/ready`, { dispatcher: agent });
      expect(ready.statusCode).toBe(200);
      expect(await ready.body.json()).toMatchObject({ status: 'UP' });
    } finally {
      await agent.close();
    }
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('shutting down');
    // The sandbox admin password (generated into the state directory) never reaches the logs.
    const { password } = JSON.parse(await readFile(join(stateDir, 'admin-credential.json'), 'utf8'));
    expect(password.length).toBeGreaterThan(10);
    expect(result.stdout + result.stderr).not.toContain(password);
  }, 60_000);
});
