import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessLog } from '../../services/gateway/access-log.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-access-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function logTo(
  file: string,
  level: string,
  write: (log: ReturnType<typeof createAccessLog>) => void,
): string[] {
  const fd = openSync(file, 'w');
  const log = createAccessLog(level, fd);
  write(log);
  log.close();
  closeSync(fd);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

describe('access log', () => {
  it('writes one valid JSON line per call, escaping what needs it', () => {
    const lines = logTo(join(dir, 'a.log'), 'info', (log) => {
      log.write({ method: 'GET', path: '/a/b', status: 200, ms: 1.5, api: 'A', clientId: 'c1' });
      log.write({ method: 'POST', path: '/q"uote\\d\n', status: 502, ms: 3, api: 'B "x"', clientId: '-' });
    });
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'info',
      log: 'access',
      method: 'GET',
      path: '/a/b',
      status: 200,
      ms: 1.5,
      api: 'A',
      clientId: 'c1',
      msg: 'request',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ path: '/q"uote\\d\n', api: 'B "x"', status: 502 });
    // The same level names and ISO times as the services' pino logs.
    expect(JSON.parse(lines[0]!).time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes nothing when the level is above info', () => {
    const lines = logTo(join(dir, 'b.log'), 'warn', (log) => {
      log.write({ method: 'GET', path: '/a', status: 200, ms: 1, api: 'A', clientId: 'c' });
    });
    expect(lines).toHaveLength(0);
  });
});
