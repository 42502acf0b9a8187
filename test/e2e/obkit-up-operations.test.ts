import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type EnvironmentManifest,
  environmentManifestSchema,
} from '../../lib/config/environment-manifest.ts';
import type { UpLock } from '../../scripts/lib/up-lock.ts';
import { freeBasePort } from '../support/ports.ts';

/**
 * Operating a running `obkit up` as a user does, from other terminals: the ready manifest on stdout
 * (--json), the lock against a second `up`, a service killed under load and restarted while the others
 * keep serving, the logs, `obkit down`, a stale lock and a busy port, and a crash loop that stops `up`.
 * Free ports (--base-port) and a temporary state directory only.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const OBKIT = join(ROOT, 'bin', 'obkit.ts');
const env = { ...process.env, OBKIT_ADMIN_PASSWORD: '', OBKIT_CONFIG: '', OBKIT__OBKIT__LOG_LEVEL: 'info' };

interface RunningUp {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

let stateDir: string;
let basePort: number;
let up: RunningUp;
let manifestLine: string;

function obkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [OBKIT, ...args], { cwd: ROOT, env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function startUp(...extra: string[]): RunningUp {
  const child = spawn(
    process.execPath,
    [OBKIT, 'up', '--state-dir', stateDir, '--base-port', String(basePort), '--json', ...extra],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const running: RunningUp = {
    child,
    stdout: '',
    stderr: '',
    exited: once(child, 'exit').then(([code]) => code as number | null),
  };
  child.stdout!.on('data', (chunk) => {
    running.stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    running.stderr += chunk;
  });
  return running;
}

async function untilReady(running: RunningUp): Promise<string> {
  await vi.waitFor(
    () => {
      if (running.child.exitCode !== null)
        throw new Error(`obkit up exited ${running.child.exitCode}:\n${running.stderr}${running.stdout}`);
      if (!running.stdout.includes('\n')) throw new Error('not ready yet');
    },
    { timeout: 170_000, interval: 200 },
  );
  const line = running.stdout.split('\n')[0]!;
  if ((JSON.parse(line) as { status?: string }).status !== 'ready')
    throw new Error(`obkit up did not get ready:\n${line}\n${running.stderr}`);
  return line;
}

async function readLock(): Promise<UpLock> {
  return JSON.parse(await readFile(join(stateDir, 'up.lock'), 'utf8')) as UpLock;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'obkit-up-ops-'));
  basePort = await freeBasePort();
  up = startUp();
  manifestLine = await untilReady(up);
}, 180_000);

afterAll(async () => {
  if (up.child.exitCode === null) {
    up.child.kill('SIGTERM');
    await up.exited;
  }
  await rm(stateDir, { recursive: true, force: true });
});

describe('obkit up --json', () => {
  it('prints the manifest once configure and smoke have passed, as environment.json says', async () => {
    const printed = environmentManifestSchema.parse(JSON.parse(manifestLine));
    const written = JSON.parse(await readFile(join(stateDir, 'environment.json'), 'utf8'));
    expect(printed.status).toBe('ready');
    expect(printed).toEqual(written);
    expect(printed.gateway.url).toBe(`https://localhost:${basePort}`);
    expect(up.stderr).toMatch(/smoke-test: passed/);
  });

  it('refuses a second up on the same state directory, naming the running one', async () => {
    const second = await obkit('up', '--state-dir', stateDir, '--base-port', String(basePort + 10));
    expect(second.code).toBe(1);
    expect(second.stdout).toContain(`obkit up is already running on ${stateDir} (pid ${up.child.pid}`);
    expect(second.stdout).toContain('obkit down');
    expect((await readLock()).pid).toBe(up.child.pid);
  }, 60_000);
});

describe('supervision', () => {
  it('restarts a service killed under load while the others keep serving', async () => {
    const manifest = JSON.parse(manifestLine) as EnvironmentManifest;
    const ca = await readFile(manifest.pki.caCertificate, 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    // Health answers on the management ports only.
    const others = [
      manifest.gateway.managementUrl!,
      manifest.apiManager.managementUrl!,
      manifest.mockRegister!.managementUrl!,
    ];
    const failures: string[] = [];
    let served = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        await Promise.all(
          others.map(async (url) => {
            try {
              const response = await request(`${url}/health/live`, { dispatcher });
              await response.body.dump();
              if (response.statusCode === 200) served++;
              else failures.push(`${url} ${response.statusCode}`);
            } catch (error) {
              failures.push(`${url} ${(error as Error).message}`);
            }
          }),
        );
      }
    })();
    const victim = (await readLock()).processes['identity-server']!.pid!;
    const killedAt = performance.now();
    process.kill(victim, 'SIGKILL');
    await vi.waitFor(
      async () => {
        const response = await request(`${manifest.identityServer.managementUrl}/health/ready`, {
          dispatcher,
        });
        await response.body.dump();
        expect(response.statusCode).toBe(200);
      },
      { timeout: 60_000, interval: 100 },
    );
    const recoveredMs = performance.now() - killedAt;
    loading = false;
    await load;
    await dispatcher.close();
    console.log(
      `identity-server killed (SIGKILL) → ready again in ${recoveredMs.toFixed(0)} ms; ${served} requests to the others meanwhile`,
    );
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);
    expect(up.stderr).toContain('identity-server exited (SIGKILL); restarting it in');
    const lock = await readLock();
    expect(lock.processes['identity-server']).toMatchObject({ state: 'running', restarts: 1 });
    expect(lock.processes['identity-server']!.pid).not.toBe(victim);
  }, 90_000);

  it('obkit status shows the restart, and the restarted service works (smoke test)', async () => {
    const status = await obkit('status', '--state-dir', stateDir, '--json');
    expect(status.code).toBe(0);
    const result = JSON.parse(status.stdout) as {
      results: { data: { up: { running: boolean; processes: UpLock['processes'] } } }[];
    };
    const { up: supervision } = result.results[0]!.data;
    expect(supervision.running).toBe(true);
    expect(supervision.processes['identity-server']).toMatchObject({
      restarts: 1,
      lastExit: { reason: 'SIGKILL' },
    });
    expect(supervision.processes.gateway).toMatchObject({ restarts: 0 });
    const smoke = await obkit('smoke', '--state-dir', stateDir, '--json');
    expect(JSON.parse(smoke.stdout)).toMatchObject({ ok: true });
  }, 60_000);

  it('obkit logs renders the JSON logs with ISO times and level names', async () => {
    const logs = await obkit('logs', 'identity-server', '--state-dir', stateDir, '--lines', '20');
    expect(logs.code).toBe(0);
    const lines = logs.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(20);
    expect(lines.join('\n')).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARN|ERROR|DEBUG) +identity-server /m,
    );
    const raw = await readFile(join(stateDir, 'logs', 'identity-server.log'), 'utf8');
    expect(raw).toContain('"msg":"restarted by obkit up (restart 1)"');
    const unknown = await obkit('logs', 'nosuch', '--state-dir', stateDir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no log for nosuch .* there are: .*gateway/);
  }, 60_000);
});

describe('obkit down', () => {
  it('stops the running up from another terminal, releases the lock and marks the manifest stopped', async () => {
    const down = await obkit('down', '--state-dir', stateDir);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`stopped obkit up (pid ${up.child.pid}`);
    expect(await up.exited).toBe(0);
    expect(existsSync(join(stateDir, 'up.lock'))).toBe(false);
    const manifest = JSON.parse(await readFile(join(stateDir, 'environment.json'), 'utf8'));
    expect(manifest.status).toBe('stopped');
    expect((await obkit('down', '--state-dir', stateDir)).stdout).toContain('no obkit up is running');
  }, 60_000);

  it('takes over a stale lock, and names a busy port with the --base-port hint', async () => {
    const gone = spawn(process.execPath, ['-e', '']);
    await once(gone, 'exit');
    await writeFile(
      join(stateDir, 'up.lock'),
      JSON.stringify({
        pid: gone.pid,
        startedAt: '2026-01-01T00:00:00.000Z',
        command: 'obkit up',
        processes: {},
      }),
    );
    const busy: Server = createServer().listen(basePort + 2, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const refused = await obkit('up', '--state-dir', stateDir, '--base-port', String(basePort));
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain(`took over the lock of pid ${gone.pid}`);
      expect(refused.stdout).toContain(
        `port ${basePort + 2} (api-manager) on 127.0.0.1 is in use: stop what uses it, or move the whole stack with --base-port N`,
      );
      expect(existsSync(join(stateDir, 'up.lock'))).toBe(false);
    } finally {
      busy.close();
    }
  }, 60_000);
});

describe('a crash loop', () => {
  it('stops up with the last lines of the log of the service that keeps exiting', async () => {
    up = startUp();
    await untilReady(up);
    const kills: number[] = [];
    while (up.child.exitCode === null && kills.length < 6) {
      const pid = (await readLock()).processes.gateway?.pid;
      if (pid && !kills.includes(pid)) {
        process.kill(pid, 'SIGKILL');
        kills.push(pid);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await up.exited).toBe(1);
    expect(up.stderr).toMatch(
      /gateway exited 6 times within 60 s \(last: SIGKILL\); last lines of .*gateway\.log:\n/,
    );
    expect(JSON.parse(up.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: false });
    expect(existsSync(join(stateDir, 'up.lock'))).toBe(false);
  }, 240_000);
});
