#!/usr/bin/env node
// Time from `obkit up` to a passing smoke test, cold (fresh state directory) and warm (second start on
// the same one), and a second `obkit configure` (no smoke test: the configure steps alone) against the
// running stack. Targets: cold < 20 s, warm < 8 s, configure < 2 s. Free ports, temporary state dir.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OBKIT = join(ROOT, 'bin', 'obkit.ts');

async function freeBasePort(): Promise<number> {
  for (;;) {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = (server.address() as { port: number }).port;
    server.close();
    if (base > 65_000) continue;
    const probes = await Promise.all(
      [1, 2, 3].map(
        (offset) =>
          new Promise<boolean>((resolve) => {
            const probe = createServer().once('error', () => resolve(false));
            probe.listen(base + offset, '127.0.0.1', () => probe.close(() => resolve(true)));
          }),
      ),
    );
    if (probes.every(Boolean)) return base;
  }
}

async function timeUp(stateDir: string, basePort: number): Promise<{ seconds: number; child: ChildProcess }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [OBKIT, 'up', '--state-dir', stateDir, '--base-port', String(basePort)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OBKIT__OBKIT__LOG_LEVEL: 'warn' },
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/smoke-test: passed/.test(output)) {
        clearInterval(timer);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`obkit up exited ${child.exitCode}:\n${output}`));
      }
    }, 20);
  });
  return { seconds: (performance.now() - started) / 1000, child };
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await once(child, 'exit');
}

const stateDir = await mkdtemp(join(tmpdir(), 'obkit-bench-up-'));
try {
  const basePort = await freeBasePort();
  const cold = await timeUp(stateDir, basePort);
  await stop(cold.child);
  const warm = await timeUp(stateDir, basePort);
  const started = performance.now();
  execFileSync(process.execPath, [OBKIT, 'configure', '--state-dir', stateDir, '--no-smoke', '--json'], {
    cwd: ROOT,
  });
  const configure = (performance.now() - started) / 1000;
  const started2 = performance.now();
  execFileSync(process.execPath, [OBKIT, 'configure', '--state-dir', stateDir, '--json'], { cwd: ROOT });
  const configureWithSmoke = (performance.now() - started2) / 1000;
  await stop(warm.child);
  const row = (name: string, seconds: number, target: number) =>
    console.log(
      `${name.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s   target < ${target} s   ${seconds < target ? 'ok' : 'OVER'}`,
    );
  row('obkit up → smoke passed (cold)', cold.seconds, 20);
  row('obkit up → smoke passed (warm)', warm.seconds, 8);
  row('second obkit configure', configure, 2);
  console.log(
    `${'second obkit configure + smoke'.padEnd(34)} ${configureWithSmoke.toFixed(2).padStart(6)} s`,
  );
} finally {
  await rm(stateDir, { recursive: true, force: true });
}
