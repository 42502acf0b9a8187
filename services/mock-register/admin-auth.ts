import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Unauthorized } from './errors.ts';

/**
 * The admin Basic credential (`[obkit.admin]`), compared in constant time over fixed-length digests so
 * neither the password nor its length leaks through timing.
 */
export function adminGuard(credential: { username: string; password: string }) {
  const expected = digest(`${credential.username}:${credential.password}`);
  return async function requireAdmin(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    const presented = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    if (!match || !timingSafeEqual(digest(presented), expected)) {
      throw new Unauthorized('the admin API requires the admin Basic credential', {
        'www-authenticate': 'Basic realm="obkit mock register", charset="UTF-8"',
      });
    }
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
