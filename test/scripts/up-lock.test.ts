import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireUpLock,
  lockPath,
  releaseUpLock,
  runningUp,
  stopRunningUp,
  UpLockedError,
} from '../../scripts/lib/up-lock.ts';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'obkit-lock-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('the up lock', () => {
  it('is refused to a second taker while its owner runs, naming the owner', async () => {
    await acquireUpLock(stateDir, 'obkit up');
    const second = await acquireUpLock(stateDir, 'obkit up').catch((error: unknown) => error);
    expect(second).toBeInstanceOf(UpLockedError);
    expect((second as Error).message).toContain(
      `obkit up is already running on ${stateDir} (pid ${process.pid}, started `,
    );
    expect((await runningUp(stateDir))?.pid).toBe(process.pid);
    await releaseUpLock(stateDir);
    expect(existsSync(lockPath(stateDir))).toBe(false);
  });

  it('is taken over from a process that is gone, and says whose it was', async () => {
    const pid = await deadPid();
    await writeFile(
      lockPath(stateDir),
      JSON.stringify({ pid, startedAt: 'then', command: 'obkit up', processes: {} }),
    );
    expect(await runningUp(stateDir)).toBeUndefined();
    const stale = await acquireUpLock(stateDir, 'obkit up');
    expect(stale?.pid).toBe(pid);
    expect(JSON.parse(await readFile(lockPath(stateDir), 'utf8')).pid).toBe(process.pid);
    expect(existsSync(`${lockPath(stateDir)}.stale`)).toBe(false);
    await releaseUpLock(stateDir);
  });

  it('treats an unreadable lock as stale', async () => {
    await writeFile(lockPath(stateDir), '{ half');
    expect(await acquireUpLock(stateDir, 'obkit up')).toBeUndefined();
    expect((await runningUp(stateDir))?.pid).toBe(process.pid);
    await releaseUpLock(stateDir);
  });

  it('down signals the owner and waits until it has gone; nothing running is no error', async () => {
    const owner = spawn(process.execPath, [
      '-e',
      'process.on("SIGTERM", () => setTimeout(() => process.exit(0), 200)); console.log("ready"); setInterval(() => {}, 1000)',
    ]);
    await once(owner.stdout!, 'data');
    await writeFile(
      lockPath(stateDir),
      JSON.stringify({ pid: owner.pid, startedAt: 'now', command: 'obkit up', processes: {} }),
    );
    const exited = once(owner, 'exit');
    expect((await stopRunningUp(stateDir))?.pid).toBe(owner.pid);
    expect((await exited)[0]).toBe(0);
    expect(await stopRunningUp(stateDir)).toBeUndefined();
  });
});
