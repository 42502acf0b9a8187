import { decodeJwt, decodeProtectedHeader } from 'jose';
import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';
import { SIGNING_ALGORITHMS } from './registration-rules.ts';

/**
 * Reads the body as a compact JWS and rejects, before any key is fetched, what could never verify:
 * anything but PS256/ES256 — `none`, HMAC (a shared secret the Data Holder does not have) and RS256
 * (PKCS#1 v1.5, excluded by FAPI).
 */
export function parseRequestJwt(context: RegistrationContext): void {
  const body = context.request.body;
  if (typeof body !== 'string' || body.trim() === '') {
    throw new InvalidClientMetadata('the request body must be the registration request JWT');
  }
  const jwt = body.trim();
  if (jwt.split('.').length !== 3)
    throw new InvalidClientMetadata('the registration request is not a compact JWS');
  try {
    context.header = decodeProtectedHeader(jwt);
    context.claims = decodeJwt(jwt) as RegistrationContext['claims'];
  } catch {
    throw new InvalidClientMetadata('the registration request JWT is malformed');
  }
  const alg = context.header.alg;
  if (!SIGNING_ALGORITHMS.includes(alg as (typeof SIGNING_ALGORITHMS)[number])) {
    throw new InvalidClientMetadata(
      `the registration request JWT alg ${alg ?? '(none)'} is not allowed; use ${SIGNING_ALGORITHMS.join(' or ')}`,
    );
  }
  context.jwt = jwt;
}
