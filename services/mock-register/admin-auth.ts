import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Unauthorized } from '../../lib/http/errors.ts';
import type { AdminLockout } from '../../lib/limits/admin-lockout.ts';

/**
 * The admin Basic credential (`[obkit.admin]`), compared in constant time over fixed-length digests so
 * neither the password nor its length leaks through timing, behind the lockout after repeated bad
 * passwords (429 + Retry-After while locked, whatever the password).
 */
export function adminGuard(credential: { username: string; password: string }, lockout: AdminLockout) {
  const expected = digest(`${credential.username}:${credential.password}`);
  return async function requireAdmin(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    const presented = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const username = presented.slice(0, Math.max(0, presented.indexOf(':')));
    const admitted =
      match !== null && (await lockout.check(username, () => timingSafeEqual(digest(presented), expected)));
    if (!admitted) {
      throw new Unauthorized('the admin API requires the admin Basic credential', {
        'www-authenticate': 'Basic realm="obkit mock register", charset="UTF-8"',
      });
    }
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
