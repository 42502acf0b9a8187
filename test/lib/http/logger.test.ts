import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../lib/http/logger.ts';

/** The services' log lines as a log store reads them: JSON, level names, ISO times, no secrets. */
function linesOf(write: (logger: ReturnType<typeof createLogger>) => void): Record<string, unknown>[] {
  const lines: string[] = [];
  write(createLogger('probe', 'info', { write: (line: string) => void lines.push(line) }));
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('service logs', () => {
  it('name the level and give the time in ISO 8601', () => {
    const [line] = linesOf((logger) => logger.warn({ api: 'A' }, 'slow upstream'));
    expect(line).toMatchObject({ level: 'warn', service: 'probe', api: 'A', msg: 'slow upstream' });
    expect(line!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('redact credentials wherever a request or a field carries them', () => {
    const [line] = linesOf((logger) =>
      logger.info(
        { req: { headers: { authorization: 'Basic YWRtaW46c2VjcmV0' } }, body: { client_secret: 's3cr3t' } },
        'request',
      ),
    );
    expect(JSON.stringify(line)).not.toMatch(/YWRtaW46c2VjcmV0|s3cr3t/);
    expect(line).toMatchObject({ req: { headers: { authorization: '[redacted]' } } });
  });

  it('write nothing below the configured level', () => {
    expect(linesOf((logger) => logger.debug('detail'))).toEqual([]);
  });
});
