/** A request quota: `count` requests per `windowMs`. */
export interface Quota {
  count: number;
  windowMs: number;
}

interface Window {
  end: number;
  count: number;
}

/**
 * Fixed-window request counters, in memory and per gateway process: with N gateway replicas a client
 * may get up to N times its quota. WSO2's gateway counts locally too (its global throttling needs a
 * separate traffic manager); a shared counter would need a shared store, which obkit does not run.
 */
export class RateLimiter {
  readonly #windows = new Map<string, Window>();
  #sweepAt = 0;

  /** Counts one request; returns 0 when allowed, else the seconds until the window resets. */
  take(key: string, quota: Quota, now = Date.now()): number {
    if (now >= this.#sweepAt) this.#sweep(now);
    let window = this.#windows.get(key);
    if (!window || now >= window.end) {
      window = { end: now + quota.windowMs, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count >= quota.count) return Math.max(1, Math.ceil((window.end - now) / 1000));
    window.count++;
    return 0;
  }

  clear(): void {
    this.#windows.clear();
  }

  /** Drops ended windows, so keys of past clients do not accumulate. */
  #sweep(now: number): void {
    this.#sweepAt = now + 60_000;
    for (const [key, window] of this.#windows) if (now >= window.end) this.#windows.delete(key);
  }
}
