import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The processes of a local stack, each `node services/<name>/main.ts` with its output appended to
 * `<logs>/<name>.log`. A process that exits is started again after a back-off (250 ms doubling to 8 s)
 * while the others keep serving; one that exits with code 2 (it refused its configuration) or more than
 * `maxRestarts` times within `windowMs` fails the stack, with the last lines of its log.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STOP_TIMEOUT_MS = 10_000;
/** Exit code of a service that refused its configuration: restarting it cannot help. */
const CONFIGURATION_REFUSED = 2;

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  windowMs: number;
  maxRestarts: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 8000,
  windowMs: 60_000,
  maxRestarts: 5,
};

export interface ProcessStatus {
  state: 'running' | 'restarting' | 'stopped';
  pid?: number;
  restarts: number;
  lastExit?: { reason: string; at: string };
}

export interface SupervisorOptions {
  logsDir: string;
  env: NodeJS.ProcessEnv;
  /** One line for the operator per event (a restart, a failure). */
  out: (line: string) => void;
  /** Called whenever a process starts, exits or is restarted. */
  onStatus?: (statuses: Record<string, ProcessStatus>) => void;
  policy?: RestartPolicy;
  /** Node options of particular processes. */
  nodeOptions?: Record<string, string[]>;
  /** The file a process runs, when not `services/<name>/main.ts` (its bundle). */
  scripts?: Record<string, string>;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #policy: RestartPolicy;
  readonly #children = new Map<string, ChildProcess>();
  readonly #statuses = new Map<string, ProcessStatus>();
  readonly #exits = new Map<string, number[]>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopping = false;
  #reject!: (error: Error) => void;
  /** Rejects when a process fails for good (crash loop, refused configuration); never resolves. */
  readonly failed = new Promise<never>((_resolve, reject) => {
    this.#reject = reject;
  });

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#policy = options.policy ?? DEFAULT_RESTART_POLICY;
    this.failed.catch(() => undefined);
  }

  logFile(name: string): string {
    return join(this.#options.logsDir, `${name}.log`);
  }

  start(name: string, restart?: number): void {
    const log = this.logFile(name);
    // Synchronous on purpose: the log file must exist before the child is spawned.
    mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
    const fd = openSync(log, 'a', 0o600);
    // A JSON line like the process's own (pino's shape), so the file stays JSON lines.
    const message = restart ? `restarted by obkit up (restart ${restart})` : 'started by obkit up';
    const line = { level: 'info', time: new Date().toISOString(), service: name, msg: message };
    writeSync(fd, `${JSON.stringify(line)}\n`);
    // stdin is a pipe the child watches: it stops when this process ends, however it ends.
    const script = this.#options.scripts?.[name] ?? join(ROOT, 'services', name, 'main.ts');
    const args = [...(this.#options.nodeOptions?.[name] ?? []), script];
    const child = spawn(process.execPath, args, {
      env: { ...this.#options.env, OBKIT_SUPERVISED: '1' },
      stdio: ['pipe', fd, fd],
      cwd: ROOT,
    });
    closeSync(fd);
    this.#children.set(name, child);
    const previous = this.#statuses.get(name);
    this.#setStatus(name, {
      ...previous,
      state: 'running',
      pid: child.pid,
      restarts: previous?.restarts ?? 0,
    });
    child.on('exit', (code, signal) => {
      this.#children.delete(name);
      const reason = signal ?? `code ${code}`;
      const status = this.#statuses.get(name)!;
      const lastExit = { reason, at: new Date().toISOString() };
      if (this.#stopping) {
        this.#setStatus(name, { ...status, state: 'stopped', pid: undefined, lastExit });
        return;
      }
      void this.#exited(name, code, reason, lastExit);
    });
  }

  async #exited(name: string, code: number | null, reason: string, lastExit: ProcessStatus['lastExit']) {
    const now = Date.now();
    const recent = [...(this.#exits.get(name) ?? []), now].filter((at) => now - at <= this.#policy.windowMs);
    this.#exits.set(name, recent);
    const status = this.#statuses.get(name)!;
    const fatal =
      code === CONFIGURATION_REFUSED
        ? 'refused its configuration'
        : recent.length > this.#policy.maxRestarts
          ? `exited ${recent.length} times within ${this.#policy.windowMs / 1000} s`
          : undefined;
    if (fatal) {
      this.#setStatus(name, { ...status, state: 'stopped', pid: undefined, lastExit });
      const tail = await lastLines(this.logFile(name), 20);
      this.#options.out(
        `obkit up: ${name} ${fatal} (last: ${reason}); last lines of ${this.logFile(name)}:\n${tail}`,
      );
      this.#reject(new Error(`${name} ${fatal}`));
      return;
    }
    const delay = Math.min(this.#policy.initialDelayMs * 2 ** (recent.length - 1), this.#policy.maxDelayMs);
    const restarts = status.restarts + 1;
    this.#setStatus(name, { state: 'restarting', restarts, lastExit });
    this.#options.out(
      `obkit up: ${name} exited (${reason}); restarting it in ${(delay / 1000).toFixed(2)} s (restart ${restarts}), the others keep serving`,
    );
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopping) this.start(name, restarts);
    }, delay);
    this.#timers.add(timer);
  }

  #setStatus(name: string, status: ProcessStatus): void {
    this.#statuses.set(name, status);
    this.#options.onStatus?.(this.statuses());
  }

  statuses(): Record<string, ProcessStatus> {
    return Object.fromEntries(this.#statuses);
  }

  isRunning(name: string): boolean {
    return this.#children.has(name);
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** SIGTERM to each group in turn (the services, then what they depend on); SIGKILL after 10 s. */
  async stop(groups: string[][]): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const group of groups) {
      await Promise.all(group.map((name) => this.#stopOne(name)));
    }
  }

  async #stopOne(name: string): Promise<void> {
    const child = this.#children.get(name);
    if (!child) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#options.out(`  ${name} did not stop in ${STOP_TIMEOUT_MS / 1000} s: killing it`);
        child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}

export async function lastLines(file: string, count: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no log)';
  }
}
