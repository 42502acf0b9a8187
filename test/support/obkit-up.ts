import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { COMPONENTS } from '../../lib/config/components.ts';
import { freePort } from './ports.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const OBKIT = join(ROOT, 'bin', 'obkit.ts');
/** What `obkit up` is started with in tests: no admin password or config file from the caller's shell. */
export const UP_ENV = { ...process.env, OBKIT_ADMIN_PASSWORD: '', OBKIT_CONFIG: '' };

/** An `obkit.toml` that puts every component's public and management port on a port free now. */
export async function configOnFreePorts(): Promise<string> {
  let toml = '[obkit]\nlog_level = "warn"\n';
  for (const { configKey } of Object.values(COMPONENTS)) {
    toml += `\n[obkit.${configKey}]\nport = ${await freePort()}\nmanagement_port = ${await freePort()}\n`;
  }
  return toml;
}

/** A foreground `obkit up`, its stdout and stderr collected together. */
export interface ForegroundUp {
  child: ChildProcess;
  output(): string;
}

/**
 * Starts `command args` (`obkit up …`, possibly wrapped) from the repository root and waits for the
 * summary's last line; throws with what it printed when it exits or `timeoutMs` passes first (then
 * stopping it).
 */
export async function startForegroundUp(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<ForegroundUp> {
  let output = '';
  const child = spawn(command, args, { cwd: ROOT, env: UP_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const deadline = Date.now() + timeoutMs;
  while (!output.includes('stops every service.')) {
    if (child.exitCode !== null) throw new Error(`obkit up exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      // The caller never gets the child to stop: it is stopped here.
      child.kill('SIGTERM');
      throw new Error(`obkit up did not finish:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, output: () => output };
}
