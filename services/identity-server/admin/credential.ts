import { createHash, timingSafeEqual } from 'node:crypto';
import { OAuthError } from '../../../lib/http/errors.ts';
import type { AdminLockout } from '../../../lib/limits/admin-lockout.ts';

/**
 * A Basic credential check (the admin's; the gateway's own for the DCR backend). Both sides are hashed
 * before the constant-time comparison, so neither the content nor the length of the configured credential leaks through timing.
 * Repeated bad passwords lock the account (lib/limits/admin-lockout.ts): while locked, `verify` throws
 * `TooManyRequests` (429 + Retry-After) whatever the password.
 */
export class AdminCredential {
  readonly #expected: Buffer;
  readonly #lockout: AdminLockout;

  constructor(username: string, password: string, lockout: AdminLockout) {
    this.#expected = digest(`${username}:${password}`);
    this.#lockout = lockout;
  }

  /** True when the Authorization header carries the admin credential; false for any other header. */
  async verify(authorization: string | undefined): Promise<boolean> {
    const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization?.trim() ?? '');
    if (!match) return false;
    const presented = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = presented.indexOf(':');
    return this.#lockout.check(colon < 0 ? presented : presented.slice(0, colon), () =>
      timingSafeEqual(digest(presented), this.#expected),
    );
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** 401 for the admin-only surfaces (key-manager operations, scopes, the DCR backend's Basic check). */
export class AdminCredentialRequired extends OAuthError {
  constructor() {
    super(401, 'unauthorized', 'the identity server admin credential is required', {
      'www-authenticate': 'Basic realm="obkit identity-server"',
    });
  }
}

/** 401 on the DCR backend's gateway path: the gateway's connection, but not its DCR backend credential. */
export class GatewayCredentialRequired extends OAuthError {
  constructor() {
    super(401, 'unauthorized', "the gateway's DCR backend credential is required", {
      'www-authenticate': 'Basic realm="obkit identity-server DCR backend"',
    });
  }
}
