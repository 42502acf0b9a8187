import { pino } from 'pino';

/** One API call, as the access log records it. Never tokens, certificates or bodies. */
export interface AccessEntry {
  method: string;
  path: string;
  status: number;
  ms: number;
  api: string;
  clientId: string;
}

export interface AccessLog {
  write(entry: AccessEntry): void;
  close(): void;
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/**
 * The per-request access log: one JSON line per API call in pino's shape (`level`, `time`, `service`,
 * `msg`), so it interleaves with the service logs. It is the hottest log of the gateway, so lines are
 * built directly (no serializer or redaction pass: no field can hold a secret) and written in batches
 * (at 8 KiB or every second) through pino's asynchronous destination. A crash can lose up to a second
 * of access lines, and a backlog beyond 4 MiB is dropped rather than held in memory.
 */
export function createAccessLog(level: string): AccessLog {
  if ((LEVELS[level] ?? Number.POSITIVE_INFINITY) > LEVELS.info!) return { write() {}, close() {} };
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8192, maxLength: 4_194_304 });
  const timer = setInterval(() => destination.flush(), 1000);
  timer.unref();
  return {
    write(entry) {
      destination.write(
        `{"level":30,"time":${Date.now()},"service":"gateway","log":"access","method":${JSON.stringify(entry.method)},` +
          `"path":${JSON.stringify(entry.path)},"status":${entry.status},"ms":${entry.ms},` +
          `"api":${JSON.stringify(entry.api)},"clientId":${JSON.stringify(entry.clientId)},"msg":"request"}\n`,
      );
    },
    close() {
      clearInterval(timer);
      try {
        destination.flushSync();
      } catch {
        // Not opened yet, or a write in flight: nothing more can be done at close.
      }
    },
  };
}
