import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { followLogs, logFiles, readLogs, renderLogLine } from '../../scripts/lib/logs.ts';

describe('rendering a log line', () => {
  it("reads pino's numeric levels and epoch times", () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 11, 2, 10, 0, 0, 5),
      pid: 7,
      hostname: 'h',
      service: 'gateway',
      msg: 'feed down',
      attempt: 2,
    });
    expect(renderLogLine(line, 'x').text).toBe(
      '2026-12-02T10:00:00.005Z WARN  gateway           feed down attempt=2',
    );
  });

  it('reads level names and ISO times, and puts an error stack on its own lines', () => {
    const line = JSON.stringify({
      level: 'error',
      time: '2026-12-02T10:00:00.000Z',
      msg: 'request failed',
      err: { message: 'boom', stack: 'Error: boom\n    at x' },
    });
    expect(renderLogLine(line, 'api-manager').text).toBe(
      '2026-12-02T10:00:00.000Z ERROR api-manager       request failed\n    Error: boom\n        at x',
    );
  });

  it('shows a line that is not JSON as it is', () => {
    expect(renderLogLine('node:internal/x: crash', 'gateway').text).toBe('node:internal/x: crash');
  });
});

describe('reading the logs of a state directory', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'obkit-logs-'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(stateDir, 'logs'));
    await writeFile(
      join(stateDir, 'logs', 'gateway.log'),
      `${JSON.stringify({ level: 30, time: 2000, msg: 'second' })}\nplain after second\n`,
    );
    await writeFile(
      join(stateDir, 'logs', 'identity-server.log'),
      `${JSON.stringify({ level: 30, time: 1000, msg: 'first' })}\n${JSON.stringify({ level: 30, time: 3000, msg: 'third' })}\n`,
    );
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('merges every process in time order, a line without a time after the one before it', async () => {
    const lines = await readLogs(await logFiles(stateDir));
    expect(lines).toEqual([
      '1970-01-01T00:00:01.000Z INFO  identity-server   first',
      '1970-01-01T00:00:02.000Z INFO  gateway           second',
      'plain after second',
      '1970-01-01T00:00:03.000Z INFO  identity-server   third',
    ]);
  });

  it('names the processes there are when asked for another', async () => {
    await expect(logFiles(stateDir, 'nosuch')).rejects.toThrow(
      /no log for nosuch .* there are: gateway, identity-server/,
    );
  });

  it('follows: prints lines appended from now on, a line split across writes once whole', async () => {
    const file = join(stateDir, 'logs', 'gateway.log');
    const printed: string[] = [];
    const stop = new AbortController();
    const following = followLogs([file], (line) => printed.push(line), stop.signal, 20);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await appendFile(file, `${JSON.stringify({ level: 50, time: 4000, msg: 'fourth' })}\n{"level":30,`);
    await vi.waitFor(() => expect(printed).toHaveLength(1), { timeout: 5000 });
    await appendFile(file, `"time":5000,"msg":"fifth"}\n`);
    await vi.waitFor(() => expect(printed).toHaveLength(2), { timeout: 5000 });
    stop.abort();
    await following;
    expect(printed).toEqual([
      '1970-01-01T00:00:04.000Z ERROR gateway           fourth',
      '1970-01-01T00:00:05.000Z INFO  gateway           fifth',
    ]);
  });
});
