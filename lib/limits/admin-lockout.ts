import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { TooManyRequests } from '../http/errors.ts';
import type { Queryable } from '../storage/index.ts';
import { secondsUntil, WindowCounters } from './window-counters.ts';

export interface LockoutPolicy {
  /** Bad passwords within `windowMs` that lock the account. */
  maxFailures: number;
  windowMs: number;
  /** How long the account stays locked, from the failure that locked it. */
  lockoutMs: number;
}

/**
 * Lockout after repeated bad admin passwords, kept in the service's database so every replica sees it.
 * While locked the account is refused (429 + Retry-After) even with the right password. The lockout is
 * logged once, by the replica whose failure crossed the threshold; never a password.
 *
 * Failures count against the configured admin username; any other username counts against one shared
 * key, so guessing names cannot grow the table (and cannot lock the real account out).
 */
export class AdminLockout {
  readonly #counters: WindowCounters;
  readonly #policy: LockoutPolicy;
  readonly #username: string;
  readonly #logger: Pick<Logger, 'warn'>;

  constructor(db: Queryable, policy: LockoutPolicy, username: string, logger: Pick<Logger, 'warn'>) {
    this.#counters = new WindowCounters(db);
    this.#policy = policy;
    this.#username = username;
    this.#logger = logger;
  }

  /**
   * Checks a presented admin credential: `verify` says whether it is right. Throws `TooManyRequests`
   * while the account is locked (without looking at the password); returns the verdict otherwise,
   * counting a wrong one.
   */
  async check(username: string, verify: () => boolean, now = Date.now()): Promise<boolean> {
    if (this.#policy.maxFailures === 0) return verify();
    const key = this.#keyOf(username);
    const window = await this.#counters.read(key, now);
    if (window && window.count >= this.#policy.maxFailures) {
      throw new TooManyRequests(
        secondsUntil(window.expiresAt, now),
        'too many failed admin sign-ins: the account is locked for now',
      );
    }
    if (verify()) return true;
    const counted = (await this.#counters.add([{ key, hits: 1, windowMs: this.#policy.windowMs }], now)).get(
      key,
    );
    if (counted?.count === this.#policy.maxFailures) {
      const until = now + this.#policy.lockoutMs;
      await this.#counters.endAt(key, until);
      this.#logger.warn(
        {
          account: key.slice(KEY_PREFIX.length),
          failures: counted.count,
          lockedUntil: new Date(until).toISOString(),
        },
        'admin account locked after repeated bad passwords',
      );
    }
    return false;
  }

  #keyOf(username: string): string {
    return `${KEY_PREFIX}${username === this.#username ? username : '*'}`;
  }
}

const KEY_PREFIX = 'admin-lockout:';

/**
 * The lockout of one account taking Basic credentials (default the admin; e.g. the DCR backend's service
 * credential), as configured (`obkit.limits.admin_lockout`).
 */
export function adminLockoutOf(
  db: Queryable,
  config: Config,
  logger: Pick<Logger, 'warn'>,
  account = config.obkit.admin.username,
): AdminLockout {
  const policy = config.obkit.limits.admin_lockout;
  return new AdminLockout(
    db,
    {
      maxFailures: policy.max_failures,
      windowMs: policy.window_seconds * 1000,
      lockoutMs: policy.lockout_seconds * 1000,
    },
    account,
    logger,
  );
}
