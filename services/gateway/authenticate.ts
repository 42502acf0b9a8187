import type { IncomingHttpHeaders } from 'node:http';
import { InvalidToken } from '../../lib/http/errors.ts';

/**
 * Pipeline step 3a: the bearer token of the API's authorization header. Validation itself (signature,
 * issuer, expiry, revocation) is `tokens.ts`'s; the pipeline asks its cache first, so a token seen
 * before costs no trip through the event loop.
 */
export function bearerToken(headers: IncomingHttpHeaders, header: string): string {
  const authorization = headers[header];
  if (typeof authorization !== 'string' || !/^bearer /i.test(authorization)) {
    throw new InvalidToken('a Bearer access token is required');
  }
  return authorization.slice(7).trim();
}
