import { setTimeout as sleep } from 'node:timers/promises';
import type { JWTPayload } from 'jose';
import type { Logger } from 'pino';
import { type Dispatcher, request } from 'undici';
import { type RevocationPage, revocationPageSchema } from '../../lib/gateway-feed/revocations.ts';
import type { SnapshotKeyManager } from '../../lib/gateway-feed/snapshot.ts';
import { InvalidToken, TemporarilyUnavailable } from '../../lib/http/errors.ts';

/** How long the identity server may hold a poll: a healthy feed answers at least this often. */
const WAIT_SECONDS = 2;
/**
 * With no answer for longer than this, the gateway no longer knows what was revoked and refuses the key
 * manager's tokens (503) rather than accept revoked ones: revocation holds within this bound even when
 * the feed is cut off.
 */
export const MAX_STALENESS_MS = 5000;
const FIRST_RETRY_MS = 250;
/** Short, so that tokens are accepted again within a second of the identity server's return. */
const MAX_RETRY_MS = 500;
const PRUNE_EVERY_MS = 30_000;

/**
 * What the gateway knows of revoked tokens: one follower per identity-server revocation feed
 * (lib/gateway-feed/revocations.ts) named by an enabled key manager, started and stopped as snapshots
 * change. `check` runs on every authorised request, cached token or not, so a revocation applies to
 * tokens this gateway validated long ago as much as to ones it never saw.
 */
export class Revocations {
  readonly #feeds = new Map<string, RevocationFeed>();
  readonly #dispatcher: Dispatcher;
  readonly #logger: Logger;

  constructor(dispatcher: Dispatcher, logger: Logger) {
    this.#dispatcher = dispatcher;
    this.#logger = logger;
  }

  /** Follows the feeds of these key managers, and no others. */
  follow(keyManagers: readonly SnapshotKeyManager[]): void {
    const wanted = new Set(
      keyManagers.flatMap((km) => (km.enabled && km.revocationFeed ? [km.revocationFeed] : [])),
    );
    for (const [url, feed] of this.#feeds) {
      if (wanted.has(url)) continue;
      void feed.stop();
      this.#feeds.delete(url);
    }
    for (const url of wanted) {
      if (!this.#feeds.has(url))
        this.#feeds.set(url, new RevocationFeed(url, this.#dispatcher, this.#logger));
    }
  }

  /** Throws unless the token's key manager has no feed, or its feed is current and names none of its claims. */
  check(keyManager: SnapshotKeyManager, claims: JWTPayload, now = Date.now()): void {
    if (!keyManager.revocationFeed) return;
    const feed = this.#feeds.get(keyManager.revocationFeed);
    if (!feed) throw new TemporarilyUnavailable('the revocation status of the access token is not known', 1);
    feed.check(claims, now);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#feeds.values()].map((feed) => feed.stop()));
    this.#feeds.clear();
  }
}

/** One feed followed by long poll: an index of claim → value → until (epoch ms), and when it last answered. */
class RevocationFeed {
  readonly #url: string;
  readonly #dispatcher: Dispatcher;
  readonly #logger: Logger;
  readonly #abort = new AbortController();
  readonly #revoked = new Map<string, Map<string, number>>();
  readonly #running: Promise<void>;
  #cursor = 0;
  #answeredAt: number | undefined;
  #prunedAt = 0;

  constructor(url: string, dispatcher: Dispatcher, logger: Logger) {
    this.#url = url;
    this.#dispatcher = dispatcher;
    this.#logger = logger.child({ revocationFeed: url });
    this.#running = this.#loop();
  }

  check(claims: JWTPayload, now: number): void {
    if (this.#answeredAt === undefined || now - this.#answeredAt > MAX_STALENESS_MS) {
      throw new TemporarilyUnavailable('the revocation status of the access token is not known', 1);
    }
    for (const [claim, values] of this.#revoked) {
      const value = claims[claim];
      if (typeof value !== 'string') continue;
      const until = values.get(value);
      if (until !== undefined && until > now) throw new InvalidToken('the access token has been revoked');
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    let failing = false;
    let wait = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const page = await this.#poll(wait);
        this.#apply(page);
        // A page that is not the last is followed at once; after that, polls are held.
        wait = page.complete ? WAIT_SECONDS : 0;
        delay = FIRST_RETRY_MS;
        if (failing) this.#logger.info('revocation feed reachable again');
        failing = false;
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        if (!failing) this.#logger.warn({ err: (error as Error).message }, 'revocation feed unavailable');
        failing = true;
        // The first poll after an outage is answered at once (not held), so the feed is current again
        // as soon as the identity server is back.
        wait = 0;
        await sleep(delay, undefined, { signal: this.#abort.signal }).catch(() => {});
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }

  async #poll(wait: number): Promise<RevocationPage> {
    const response = await request(`${this.#url}?after=${this.#cursor}&wait=${wait}`, {
      dispatcher: this.#dispatcher,
      headers: { accept: 'application/json' },
      signal: this.#abort.signal,
      headersTimeout: (wait + 3) * 1000,
      bodyTimeout: 10_000,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`the identity server answered HTTP ${response.statusCode} for revocations`);
    }
    const parsed = revocationPageSchema.safeParse(await response.body.json());
    if (!parsed.success) throw new Error(`invalid revocation page: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  #apply(page: RevocationPage): void {
    const now = Date.now();
    for (const { claim, value, expiresAt } of page.revocations) {
      let values = this.#revoked.get(claim);
      if (!values) {
        values = new Map();
        this.#revoked.set(claim, values);
      }
      values.set(value, Math.max(values.get(value) ?? 0, expiresAt * 1000));
    }
    this.#cursor = page.cursor;
    // Current only once the whole backlog has arrived.
    if (page.complete) this.#answeredAt = now;
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    for (const values of this.#revoked.values()) {
      for (const [value, until] of values) if (until <= now) values.delete(value);
    }
  }
}
