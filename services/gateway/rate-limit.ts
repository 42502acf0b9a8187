import type { Logger } from 'pino';
import {
  MAX_REPORTED_WINDOWS,
  type PlanUsageAnswer,
  type PlanUsageReport,
} from '../../lib/gateway-feed/plan-usage.ts';
import { secondsUntil } from '../../lib/limits/window-counters.ts';

/** A request quota: `count` requests per `windowMs`. */
export interface Quota {
  count: number;
  windowMs: number;
}

interface Window {
  windowMs: number;
  expiresAt: number;
  /** Every replica's requests in the window, as of the last report's answer (this one's included). */
  shared: number;
  /** Admitted here since the last report. */
  unreported: number;
  /** Admitted here and sent in a report not answered yet. */
  reporting: number;
}

export interface PlanLimitsOptions {
  /** Sends a usage report to api-manager; absent, the limits are this replica's alone. */
  report?: (report: PlanUsageReport) => Promise<PlanUsageAnswer>;
  /** How often usage is reported (`obkit.limits.plan_sync_interval_ms`). */
  intervalMs: number;
  logger: Pick<Logger, 'warn' | 'info'>;
}

/**
 * Business-plan limits (fixed windows per subscription) that hold across gateway replicas. The hot path
 * is a map lookup: each request is admitted against the last known count of every replica plus what
 * this one admitted since. Every `intervalMs` each replica reports its new requests to api-manager,
 * which adds them to one shared counter per window in its database and answers every replica's total.
 * So N replicas together admit the plan, overshooting at most by what the others admit within one
 * report interval; while api-manager cannot be reached each replica counts alone (N × plan at worst)
 * and reports the backlog once it can.
 */
export class PlanLimits {
  readonly #windows = new Map<string, Window>();
  readonly #options: PlanLimitsOptions;
  readonly #timer: NodeJS.Timeout | undefined;
  /** Reports run one after another; the timer skips a beat while one is still going. */
  #reports: Promise<void> = Promise.resolve();
  #pendingReports = 0;
  #failing = false;

  constructor(options: PlanLimitsOptions) {
    this.#options = options;
    if (options.report) {
      this.#timer = setInterval(() => {
        if (this.#pendingReports === 0) void this.report();
      }, options.intervalMs);
      this.#timer.unref();
    }
  }

  /** Counts one request; returns 0 when allowed, else the seconds until the window resets. */
  take(key: string, quota: Quota, now = Date.now()): number {
    let window = this.#windows.get(key);
    if (!window || now >= window.expiresAt) {
      window = {
        windowMs: quota.windowMs,
        expiresAt: now + quota.windowMs,
        shared: 0,
        unreported: 0,
        reporting: 0,
      };
      this.#windows.set(key, window);
    }
    if (window.shared + window.unreported + window.reporting >= quota.count) {
      return secondsUntil(window.expiresAt, now);
    }
    window.unreported++;
    return 0;
  }

  /** Reports every request admitted so far and learns the others' counts (after any report under way). */
  report(): Promise<void> {
    this.#pendingReports++;
    this.#reports = this.#reports
      .then(() => this.#report())
      .catch((error: unknown) =>
        this.#options.logger.warn({ err: error }, 'business-plan usage report failed'),
      )
      .finally(() => {
        this.#pendingReports--;
      });
    return this.#reports;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#reports;
  }

  async #report(): Promise<void> {
    const send = this.#options.report;
    const now = Date.now();
    const sent: Array<{ key: string; window: Window; hits: number }> = [];
    for (const [key, window] of this.#windows) {
      // An ended window with nothing left to report is forgotten, so past subscriptions do not pile up.
      if (now >= window.expiresAt && window.unreported === 0 && window.reporting === 0) {
        this.#windows.delete(key);
        continue;
      }
      if (!send) continue;
      sent.push({ key, window, hits: window.unreported });
      window.reporting += window.unreported;
      window.unreported = 0;
    }
    if (!send) return;
    for (let at = 0; at < sent.length; at += MAX_REPORTED_WINDOWS) {
      const batch = sent.slice(at, at + MAX_REPORTED_WINDOWS);
      let answer: PlanUsageAnswer | undefined;
      try {
        answer = await send({
          windows: batch.map(({ key, window, hits }) => ({ key, hits, windowMs: window.windowMs })),
        });
      } catch (error) {
        if (!this.#failing) {
          this.#options.logger.warn(
            { err: (error as Error).message },
            'cannot share business-plan usage with api-manager: each replica counts alone until it can',
          );
        }
        this.#failing = true;
      }
      const counts = new Map(answer?.windows.map((window) => [window.key, window]));
      for (const { key, window, hits } of batch) {
        window.reporting -= hits;
        const shared = counts.get(key);
        // Not reported (a failure): the hits go in the next report.
        if (!answer) window.unreported += hits;
        else if (shared && this.#windows.get(key) === window && shared.expiresAt > Date.now()) {
          window.shared = shared.count;
          window.expiresAt = shared.expiresAt;
        }
      }
      if (answer && this.#failing) {
        this.#failing = false;
        this.#options.logger.info('sharing business-plan usage with api-manager again');
      }
    }
  }
}
