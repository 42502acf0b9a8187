import type { Queryable } from '../storage/index.ts';

/**
 * The one table every service keeps its abuse-limit counters in (in its own schema): a fixed window
 * per key, opened by the first hit and ended at `expires_at` (epoch ms). Replicas of a service share it,
 * so a limit holds across them; an atomic upsert counts a hit, with no read-then-write race.
 */
export const WINDOW_COUNTERS_MIGRATION = {
  name: 'abuse-limit window counters',
  sql: `
    CREATE TABLE abuse_counters (
      key         text PRIMARY KEY,
      count       integer NOT NULL,
      expires_at  bigint NOT NULL
    );
    CREATE INDEX abuse_counters_expiry ON abuse_counters (expires_at);
  `,
};

export interface Quota {
  count: number;
  windowMs: number;
}

export interface Window {
  key: string;
  count: number;
  /** Epoch ms at which the window ends. */
  expiresAt: number;
}

/** A key's hits to add, in a window of `windowMs` when a new one opens. */
export interface Hit {
  key: string;
  hits: number;
  windowMs: number;
}

export class WindowCounters {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /**
   * Adds hits to each key's current window (a new window when none is open) in one round trip and
   * returns every key's count after it. Keys are written in order, so concurrent callers never deadlock.
   */
  async add(hits: readonly Hit[], now = Date.now()): Promise<Map<string, Window>> {
    if (hits.length === 0) return new Map();
    // One row per key in a statement (PostgreSQL refuses to update a row twice in one upsert).
    const merged = new Map<string, Hit>();
    for (const hit of hits) {
      const seen = merged.get(hit.key);
      merged.set(hit.key, seen ? { ...seen, hits: seen.hits + hit.hits } : hit);
    }
    const sorted = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const values: string[] = [];
    const params: unknown[] = [now];
    for (const hit of sorted) {
      params.push(hit.key, hit.hits, now + hit.windowMs);
      const at = params.length;
      values.push(`($${at - 2}, $${at - 1}::integer, $${at}::bigint)`);
    }
    const result = await this.#db.query<{ key: string; count: number; expires_at: number }>(
      `INSERT INTO abuse_counters (key, count, expires_at) VALUES ${values.join(', ')}
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN abuse_counters.expires_at <= $1::bigint THEN EXCLUDED.count
                      ELSE abuse_counters.count + EXCLUDED.count END,
         expires_at = CASE WHEN abuse_counters.expires_at <= $1::bigint THEN EXCLUDED.expires_at
                           ELSE abuse_counters.expires_at END
       RETURNING key, count, expires_at::float8 AS expires_at`,
      params,
    );
    return new Map(
      result.rows.map((row) => [row.key, { key: row.key, count: row.count, expiresAt: row.expires_at }]),
    );
  }

  /** The key's open window, if any. */
  async read(key: string, now = Date.now()): Promise<Window | undefined> {
    const result = await this.#db.query<{ count: number; expires_at: number }>(
      'SELECT count, expires_at::float8 AS expires_at FROM abuse_counters WHERE key = $1 AND expires_at > $2::bigint',
      [key, now],
    );
    const row = result.rows[0];
    return row ? { key, count: row.count, expiresAt: row.expires_at } : undefined;
  }

  /** Ends the key's window at `until` (a lockout lasts its own length, whatever the window's). */
  async endAt(key: string, until: number): Promise<void> {
    await this.#db.query('UPDATE abuse_counters SET expires_at = $2::bigint WHERE key = $1', [key, until]);
  }

  async delete(key: string): Promise<void> {
    await this.#db.query('DELETE FROM abuse_counters WHERE key = $1', [key]);
  }

  /** Drops ended windows, so keys of past callers do not accumulate. */
  async prune(now = Date.now()): Promise<void> {
    await this.#db.query('DELETE FROM abuse_counters WHERE expires_at <= $1::bigint', [now]);
  }
}

/** Seconds until a window ends, at least 1 (what `Retry-After` says). */
export function secondsUntil(expiresAt: number, now = Date.now()): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}
