import { createHash, timingSafeEqual } from 'node:crypto';
import { OAuthError } from '../../../lib/http/errors.ts';

/**
 * The identity server's admin Basic credential check. Both sides are hashed before the constant-time
 * comparison, so neither the content nor the length of the configured credential leaks through timing.
 */
export function adminCredentialChecker(username: string, password: string) {
  const expected = digest(`${username}:${password}`);
  return function isAdminCredential(authorization: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization?.trim() ?? '');
    if (!match) return false;
    const presented = digest(Buffer.from(match[1]!, 'base64').toString('utf8'));
    return timingSafeEqual(presented, expected);
  };
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
