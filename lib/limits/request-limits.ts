import ipaddr from 'ipaddr.js';
import { TooManyRequests } from '../http/errors.ts';
import type { Queryable } from '../storage/index.ts';
import { type Quota, secondsUntil, type Window, WindowCounters } from './window-counters.ts';

/** One limit a request counts against: which (`token:client`, `dcr:source`, …), whose, and how much. */
export interface LimitCheck {
  limit: string;
  /** The caller the limit is kept for (a client, a source address); no key, no count. */
  subject: string | undefined;
  quota: Quota;
}

/** A request waiting for its batch to be counted. */
interface Pending {
  checks: readonly LimitCheck[];
  now: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Most requests counted by one statement. */
const MAX_BATCH = 256;

/**
 * Per-caller request limits kept in the service's database, so every replica counts against the same
 * windows. One round trip counts a request against all its limits; past any of them it is refused
 * with 429 and `Retry-After` (the seconds until that window ends).
 *
 * Requests that arrive in the same turn of the event loop, or while a count is in flight, are counted
 * together by the next statement, in arrival order: each is judged on the count its own hit reached,
 * exactly as if they had been counted one after another, at one statement per batch instead of one per
 * request (a busy token endpoint's requests otherwise queue one upsert each on the same rows).
 */
export class RequestLimits {
  readonly #counters: WindowCounters;
  #queue: Pending[] = [];
  #counting = false;

  constructor(db: Queryable) {
    this.#counters = new WindowCounters(db);
  }

  /** Counts the request; throws `TooManyRequests` when a limit is exceeded. */
  admit(checks: readonly LimitCheck[], now = Date.now()): Promise<void> {
    const counted = checks.filter((check) => check.subject !== undefined && check.quota.count > 0);
    if (counted.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#queue.push({ checks: counted, now, resolve, reject });
      if (this.#counting) return;
      this.#counting = true;
      // After the current turn of the event loop: the requests its poll phase read all go in one count
      // (an embedded database answers synchronously, so nothing else would overlap a statement).
      setImmediate(() => void this.#countQueued());
    });
  }

  prune(now = Date.now()): Promise<void> {
    return this.#counters.prune(now);
  }

  async #countQueued(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        this.#judge(batch, await this.#count(batch));
      } catch (error) {
        for (const request of batch) request.reject(error);
      }
    }
    this.#counting = false;
  }

  #count(batch: readonly Pending[]): Promise<Map<string, Window>> {
    const now = Math.max(...batch.map((request) => request.now));
    return this.#counters.add(
      batch.flatMap((request) =>
        request.checks.map((check) => ({ key: keyOf(check), hits: 1, windowMs: check.quota.windowMs })),
      ),
      now,
    );
  }

  /** Each request's count is the window's count less the hits queued after it. */
  #judge(batch: readonly Pending[], windows: Map<string, Window>): void {
    const later = new Map<string, number>();
    for (const request of batch)
      for (const check of request.checks) later.set(keyOf(check), (later.get(keyOf(check)) ?? 0) + 1);
    for (const request of batch) {
      let retryAfter = 0;
      for (const check of request.checks) {
        const key = keyOf(check);
        const after = later.get(key)! - 1;
        later.set(key, after);
        const window = windows.get(key);
        if (window && window.count - after > check.quota.count) {
          retryAfter = Math.max(retryAfter, secondsUntil(window.expiresAt, request.now));
        }
      }
      if (retryAfter) request.reject(new TooManyRequests(retryAfter));
      else request.resolve();
    }
  }
}

function keyOf(check: LimitCheck): string {
  return `${check.limit}:${check.subject}`;
}

/** A configured limit (`obkit.limits.*`) as a quota. */
export function quotaOf(setting: { requests: number; window_seconds: number }): Quota {
  return { count: setting.requests, windowMs: setting.window_seconds * 1000 };
}

/**
 * The source a request is counted against: the address it came from — the socket's peer, or on a
 * connection authenticated as the gateway, which appends the address it accepted the call from, the
 * last `X-Forwarded-For` entry (earlier entries were written by the caller and are never believed).
 * IPv6 sources count per /64, the block one subscriber gets, so rotating addresses within it does not
 * multiply the quota; an IPv4-mapped address counts as its IPv4 address.
 */
export function sourceAddressOf(
  request: { headers: Record<string, string | string[] | undefined>; socket: { remoteAddress?: string } },
  viaGateway: boolean,
): string {
  const forwarded = request.headers['x-forwarded-for'];
  const last = typeof forwarded === 'string' ? forwarded.slice(forwarded.lastIndexOf(',') + 1).trim() : '';
  return sourceOf(viaGateway && last ? last : (request.socket.remoteAddress ?? 'unknown'));
}

function sourceOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${(parsed as ipaddr.IPv6).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}
