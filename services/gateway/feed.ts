import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { type Dispatcher, request } from 'undici';
import {
  type GatewaySnapshot,
  gatewaySnapshotSchema,
  SNAPSHOT_PATH,
} from '../../lib/gateway-feed/snapshot.ts';

export interface FeedOptions {
  /** api-manager base URL. */
  apiManagerUrl: string;
  /** Agent presenting the gateway's internal client certificate. */
  dispatcher: Dispatcher;
  /** Long-poll hold asked of api-manager, seconds. */
  waitSeconds: number;
  /** First retry delay after a failure; doubles up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  /**
   * Retry delay, not doubled, until api-manager has answered once: a gateway that has never had a
   * snapshot from it (starting beside it) takes its first one as soon as it can be given.
   */
  startupRetryMs: number;
  logger: Logger;
  onSnapshot: (snapshot: GatewaySnapshot) => void;
}

/**
 * Pulls the gateway snapshot from api-manager: a long poll with `If-None-Match`, so a change arrives
 * as soon as it is published and an unchanged snapshot costs one idle request per wait. Every answer
 * is validated before it replaces the current one; failures keep the last good snapshot and retry
 * with back-off, so the gateway serves on while api-manager is down.
 */
export class SnapshotFeed {
  readonly #options: FeedOptions;
  readonly #abort = new AbortController();
  #etag: string | undefined;
  #running: Promise<void> | undefined;
  #failing = false;
  lastSuccessAt: number | undefined;
  lastError: string | undefined;

  constructor(options: FeedOptions) {
    this.#options = options;
  }

  /** Starts polling; `etag` is the version already held (e.g. from disk). */
  start(etag?: string): void {
    this.#etag = etag;
    this.#running ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let delay = this.#options.retryMs;
    while (!this.#abort.signal.aborted) {
      try {
        await this.#pollOnce();
        delay = this.#options.retryMs;
        if (this.#failing) this.#options.logger.info('gateway feed: api-manager reachable again');
        this.#failing = false;
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        this.lastError = (error as Error).message;
        // One warning per outage, not one per retry.
        if (!this.#failing) {
          this.#options.logger.warn(
            { err: this.lastError },
            'gateway feed: api-manager unavailable; serving the last good snapshot',
          );
        }
        this.#failing = true;
        if (this.lastSuccessAt === undefined) {
          await sleep(this.#options.startupRetryMs, this.#abort.signal);
          continue;
        }
        await sleep(delay, this.#abort.signal);
        delay = Math.min(delay * 2, this.#options.maxRetryMs);
      }
    }
  }

  async #pollOnce(): Promise<void> {
    const { apiManagerUrl, dispatcher, waitSeconds } = this.#options;
    const url = `${apiManagerUrl}${SNAPSHOT_PATH}${this.#etag ? `?wait=${waitSeconds}` : ''}`;
    const response = await request(url, {
      dispatcher,
      headers: { accept: 'application/json', ...(this.#etag ? { 'if-none-match': this.#etag } : {}) },
      signal: this.#abort.signal,
      headersTimeout: (waitSeconds + 15) * 1000,
      bodyTimeout: 30_000,
    });
    if (response.statusCode === 304) {
      await response.body.dump();
      this.lastSuccessAt = Date.now();
      return;
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`api-manager answered HTTP ${response.statusCode} for the snapshot`);
    }
    const parsed = gatewaySnapshotSchema.safeParse(await response.body.json());
    if (!parsed.success) {
      throw new Error(
        `api-manager sent an invalid snapshot: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
      );
    }
    this.#etag = `"${parsed.data.version}"`;
    this.lastSuccessAt = Date.now();
    this.#options.onSnapshot(parsed.data);
  }
}

/** The last good snapshot on disk, so a gateway restarted while api-manager is down still serves. */
export async function readSnapshotFile(file: string, logger: Logger): Promise<GatewaySnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = gatewaySnapshotSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
    logger.warn({ file, problem: parsed.error.issues[0]?.message }, 'ignoring an invalid snapshot file');
  } catch {
    logger.warn({ file }, 'ignoring an unreadable snapshot file');
  }
  return undefined;
}

/** Atomic replace: a crash mid-write leaves the previous copy, never half a file. */
export async function writeSnapshotFile(file: string, snapshot: GatewaySnapshot): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(snapshot), { mode: 0o600 });
  await rename(temporary, file);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
