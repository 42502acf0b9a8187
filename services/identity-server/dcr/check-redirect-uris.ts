import { InvalidRedirectUri } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';

/**
 * The SSA's redirect URIs are the Register's word: a non-empty list of https URLs. A request may
 * register a subset of them (never another URI); without `redirect_uris` it registers all of them.
 */
export function checkRedirectUris(context: RegistrationContext): void {
  const attested = context.ssa.redirect_uris;
  if (!Array.isArray(attested) || attested.length === 0) {
    throw new InvalidRedirectUri('the software statement has no redirect_uris');
  }
  for (const uri of attested) {
    if (typeof uri !== 'string' || !isHttpsUrl(uri)) {
      throw new InvalidRedirectUri(
        `the software statement's redirect URI ${JSON.stringify(uri)} is not an https URL`,
      );
    }
  }
  const requested = context.claims.redirect_uris;
  if (requested === undefined) {
    context.redirectUris = attested as string[];
    return;
  }
  if (!Array.isArray(requested) || requested.length === 0) {
    throw new InvalidRedirectUri('redirect_uris must be a non-empty array');
  }
  for (const uri of requested) {
    if (typeof uri !== 'string' || !attested.includes(uri)) {
      throw new InvalidRedirectUri(
        `Redirect URI ${JSON.stringify(uri)} is not one of the software statement's redirect_uris`,
      );
    }
  }
  context.redirectUris = [...new Set(requested as string[])];
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
