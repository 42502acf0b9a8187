import { existsSync } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `obkit logs`: the JSON log files of a local stack (`<state-dir>/logs/<process>.log`, one JSON object
 * a line: level names and ISO times, as lib/http/logger.ts writes them) rendered for people: ISO time,
 * level name, process, message, then the other fields as key=value and an error's stack on its own
 * lines. Also reads pino's numeric levels and epoch times, which files of earlier versions hold. Lines that are not JSON (start banners, a crash on
 * stderr) are shown as they are. The files are never changed.
 */

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'err']);

interface Entry {
  time: number;
  text: string;
}

export function logsDir(stateDir: string): string {
  return join(stateDir, 'logs');
}

/** The log files to read: one process's, or every process's. */
export async function logFiles(stateDir: string, name?: string): Promise<string[]> {
  const dir = logsDir(stateDir);
  const available = existsSync(dir)
    ? (await readdir(dir)).filter((file) => file.endsWith('.log')).sort()
    : [];
  if (!available.length)
    throw new Error(`no logs in ${dir}: has \`obkit up\` run with this state directory?`);
  if (!name) return available.map((file) => join(dir, file));
  if (!available.includes(`${name}.log`)) {
    throw new Error(
      `no log for ${name} in ${dir}; there are: ${available.map((file) => basename(file, '.log')).join(', ')}`,
    );
  }
  return [join(dir, `${name}.log`)];
}

/** One log line for reading; `fallbackService` names the process of lines that do not say. */
export function renderLogLine(line: string, fallbackService: string): { time?: number; text: string } {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { text: line };
    record = parsed as Record<string, unknown>;
  } catch {
    return { text: line };
  }
  const time = typeof record.time === 'number' ? record.time : Date.parse(String(record.time ?? ''));
  const level =
    typeof record.level === 'number'
      ? (LEVEL_NAMES[record.level] ?? String(record.level))
      : String(record.level ?? '').toUpperCase();
  const fields = Object.entries(record)
    .filter(([key]) => !SHOWN_ELSEWHERE.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const err = record.err as { message?: string; stack?: string } | string | undefined;
  const errorText =
    typeof err === 'string'
      ? ` err=${err}`
      : err
        ? `\n    ${(err.stack ?? err.message ?? '').replaceAll('\n', '\n    ')}`
        : '';
  const head = [
    Number.isFinite(time) ? new Date(time).toISOString() : '-'.padEnd(24),
    level.padEnd(5),
    String(record.service ?? fallbackService).padEnd(17),
    String(record.msg ?? ''),
  ].join(' ');
  return {
    ...(Number.isFinite(time) ? { time } : {}),
    text: `${head}${fields.length ? ` ${fields.join(' ')}` : ''}${errorText}`,
  };
}

/** Every line of the files, rendered and merged in time order (a line without a time follows the one before it). */
export async function readLogs(files: string[]): Promise<string[]> {
  const entries: Entry[] = [];
  for (const file of files) {
    let previous = 0;
    const service = basename(file, '.log');
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (!line) continue;
      const rendered = renderLogLine(line, service);
      previous = rendered.time ?? previous;
      entries.push({ time: previous, text: rendered.text });
    }
  }
  // Array.prototype.sort is stable: lines of one time keep their file order.
  return entries.sort((a, b) => a.time - b.time).map((entry) => entry.text);
}

/** Prints lines appended to the files from now on, until `signal` aborts. */
export async function followLogs(
  files: string[],
  print: (text: string) => void,
  signal: AbortSignal,
  intervalMs = 250,
): Promise<void> {
  const offsets = new Map<string, number>();
  const partial = new Map<string, string>();
  for (const file of files) offsets.set(file, (await stat(file)).size);
  while (!signal.aborted) {
    for (const file of files) {
      const size = (await stat(file).catch(() => ({ size: 0 }))).size;
      let offset = offsets.get(file) ?? 0;
      if (size < offset) offset = 0; // truncated or replaced: start again from its beginning
      if (size === offset) continue;
      const handle = await open(file, 'r');
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      await handle.close();
      offsets.set(file, size);
      const lines = ((partial.get(file) ?? '') + buffer.toString('utf8')).split('\n');
      partial.set(file, lines.pop() ?? '');
      for (const line of lines) if (line) print(renderLogLine(line, basename(file, '.log')).text);
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}
