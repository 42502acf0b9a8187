import { type Logger, pino } from 'pino';

/**
 * The per-request access log: one JSON line per API call (method, path, status, ms, API, client id —
 * never tokens, certificates or bodies, so it needs no redaction pass). Lines are buffered and written
 * in batches (at 8 KiB or every second) instead of one write per request; a crash can lose up to a
 * second of access lines (and lines beyond 4 MiB of backlog are dropped), never the service's own logs.
 */
export interface AccessLog {
  logger: Logger;
  close(): void;
}

export function createAccessLog(level: string): AccessLog {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8192, maxLength: 4_194_304 });
  const logger = pino({ level, base: { service: 'gateway', log: 'access' } }, destination);
  const timer = setInterval(() => destination.flush(), 1000);
  timer.unref();
  return {
    logger,
    close() {
      clearInterval(timer);
      try {
        destination.flushSync();
      } catch {
        // Not opened yet or being written: nothing more can be done at close.
      }
    },
  };
}
