import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessStatus } from './supervisor.ts';

/**
 * `<state-dir>/up.lock`: which `obkit up` owns the state directory (pid, start time, command) and how
 * its processes are doing (state, pid, restarts). Created atomically, so of two `up`s on one directory
 * the second is refused; a lock whose process is gone is stale and taken over. `obkit down` signals
 * the owner; `obkit status` shows the restarts.
 */

export interface UpLock {
  pid: number;
  startedAt: string;
  command: string;
  processes: Record<string, ProcessStatus>;
}

export class UpLockedError extends Error {
  readonly lock: UpLock;
  constructor(stateDir: string, lock: UpLock) {
    super(
      `obkit up is already running on ${stateDir} (pid ${lock.pid}, started ${lock.startedAt}): stop it with \`obkit down --state-dir ${stateDir}\`, or use another --state-dir`,
    );
    this.name = 'UpLockedError';
    this.lock = lock;
  }
}

export function lockPath(stateDir: string): string {
  return join(stateDir, 'up.lock');
}

/** Takes the lock for this process; returns the stale lock it replaced, if any. */
export async function acquireUpLock(stateDir: string, command: string): Promise<UpLock | undefined> {
  const path = lockPath(stateDir);
  const lock: UpLock = { pid: process.pid, startedAt: new Date().toISOString(), command, processes: {} };
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  let stale: UpLock | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    // Written whole beside it, then linked into place: link fails when the lock exists, and a reader
    // never sees a half-written one.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(lock), { mode: 0o600 });
    try {
      await link(temporary, path);
      await rm(`${path}.stale`, { force: true });
      return stale;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(temporary, { force: true });
    }
    const existing = await readLockFile(path);
    if (existing && isAlive(existing.pid)) throw new UpLockedError(stateDir, existing);
    stale = existing ?? stale;
    // Moved aside rather than deleted: of two processes taking it over, only one rename succeeds.
    await rename(path, `${path}.stale`).catch(() => undefined);
  }
  throw new Error(`could not take ${path}: it keeps changing`);
}

/** Rewrites the lock with the processes' current state (atomically; only its owner calls this). */
export async function updateUpLock(stateDir: string, lock: UpLock): Promise<void> {
  const path = lockPath(stateDir);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(lock), { mode: 0o600 });
  await rename(temporary, path);
}

export async function releaseUpLock(stateDir: string): Promise<void> {
  const existing = await readLockFile(lockPath(stateDir));
  if (existing?.pid === process.pid) await rm(lockPath(stateDir), { force: true });
}

/** The lock of a running `obkit up` on this state directory, or undefined (none, or stale). */
export async function runningUp(stateDir: string): Promise<UpLock | undefined> {
  const lock = await readLockFile(lockPath(stateDir));
  return lock && isAlive(lock.pid) ? lock : undefined;
}

/** `obkit down`: SIGTERM to the running `up`, then waits for it to finish stopping its services. */
export async function stopRunningUp(stateDir: string, timeoutMs = 30_000): Promise<UpLock | undefined> {
  const lock = await runningUp(stateDir);
  if (!lock) return undefined;
  process.kill(lock.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(lock.pid)) {
    if (Date.now() > deadline) {
      throw new Error(`obkit up (pid ${lock.pid}) did not stop within ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return lock;
}

async function readLockFile(path: string): Promise<UpLock | undefined> {
  try {
    const lock = JSON.parse(await readFile(path, 'utf8')) as UpLock;
    return Number.isInteger(lock.pid) ? lock : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
