import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';
import type { ClaimRule, RegisteredClaim } from './registration-rules.ts';

/**
 * Every Request JWT rule of docs/dcr-rules.md except redirect URIs (next step) and replay (checked where
 * the jti is stored): who issued it, for whom, when, and which client metadata it asks for.
 */
export function checkRequestClaims(context: RegistrationContext): void {
  const { claims, ssa } = context;
  const { claims: rules, clockSkewSeconds } = context.runtime.rules;

  if (claims.iss !== ssa.software_id) throw new InvalidClientMetadata('Invalid issuer');
  checkAudience(claims.aud, rules.aud.allowed ?? [context.runtime.deps.issuer]);
  checkTimes(claims, rules, clockSkewSeconds);
  if (rules.jti.required && (typeof claims.jti !== 'string' || claims.jti === '')) {
    throw new InvalidClientMetadata('Required parameter jti not found in the request');
  }

  checkString(claims, 'token_endpoint_auth_method', rules.token_endpoint_auth_method);
  checkString(claims, 'token_endpoint_auth_signing_alg', rules.token_endpoint_auth_signing_alg);
  checkString(claims, 'id_token_signed_response_alg', rules.id_token_signed_response_alg);
  checkString(claims, 'application_type', rules.application_type);
  checkString(claims, 'request_object_signing_alg', rules.request_object_signing_alg);
  checkList(claims, 'grant_types', rules.grant_types);
  checkList(claims, 'response_types', rules.response_types);

  const responseTypes = (claims.response_types as string[] | undefined) ?? [];
  const authorizationSigning = rules.authorization_signed_response_alg;
  checkString(claims, 'authorization_signed_response_alg', {
    ...authorizationSigning,
    required: authorizationSigning.required ?? responseTypes.includes('code'),
  });
  checkEncryption(claims, 'authorization', rules);
  checkEncryption(claims, 'id_token', rules);
  const idTokenEncrypted =
    claims.id_token_encrypted_response_alg !== undefined ||
    claims.id_token_encrypted_response_enc !== undefined;
  if (idTokenEncrypted && !responseTypes.includes('code id_token')) {
    throw new InvalidClientMetadata(
      'id_token encryption applies only to the hybrid response type "code id_token"',
    );
  }
}

function checkAudience(aud: unknown, allowed: readonly string[]): void {
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (aud === undefined || !audiences.some((value) => allowed.includes(value as string))) {
    throw new InvalidClientMetadata('Invalid audience provided');
  }
}

function checkTimes(
  claims: RegistrationContext['claims'],
  rules: Record<RegisteredClaim, ClaimRule>,
  skew: number,
): void {
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ['iat', 'exp'] as const) {
    const value = claims[claim];
    if (value === undefined && !rules[claim].required) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InvalidClientMetadata(`Required parameter ${claim} must be a NumericDate`);
    }
  }
  if (claims.exp !== undefined && claims.exp + skew < now) {
    throw new InvalidClientMetadata('the registration request JWT has expired (exp)');
  }
  if (claims.iat !== undefined && claims.iat - skew > now) {
    throw new InvalidClientMetadata('the registration request JWT is issued in the future (iat)');
  }
}

function checkString(claims: Record<string, unknown>, claim: RegisteredClaim, rule: ClaimRule): void {
  const value = claims[claim];
  if (value === undefined) {
    if (rule.required)
      throw new InvalidClientMetadata(`Required parameter ${claim} not found in the request`);
    return;
  }
  if (typeof value !== 'string' || (rule.allowed && !rule.allowed.includes(value))) {
    throw new InvalidClientMetadata(
      `Invalid ${claim}: ${JSON.stringify(value)}; allowed: ${(rule.allowed ?? []).join(', ')}`,
    );
  }
}

function checkList(claims: Record<string, unknown>, claim: RegisteredClaim, rule: ClaimRule): void {
  const value = claims[claim];
  if (value === undefined) {
    if (rule.required)
      throw new InvalidClientMetadata(`Required parameter ${claim} not found in the request`);
    return;
  }
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => typeof item === 'string' && (!rule.allowed || rule.allowed.includes(item)));
  if (!valid) {
    throw new InvalidClientMetadata(
      `Invalid ${claim}: ${JSON.stringify(value)}; allowed: ${(rule.allowed ?? []).join(', ')}`,
    );
  }
}

/** `enc` needs an `alg`; each from its allowed set. */
function checkEncryption(
  claims: Record<string, unknown>,
  prefix: 'authorization' | 'id_token',
  rules: Record<RegisteredClaim, ClaimRule>,
): void {
  const alg = `${prefix}_encrypted_response_alg` as const;
  const enc = `${prefix}_encrypted_response_enc` as const;
  if (claims[enc] !== undefined && claims[alg] === undefined) {
    throw new InvalidClientMetadata(`${enc} is given without ${alg}`);
  }
  checkString(claims, alg, rules[alg]);
  checkString(claims, enc, rules[enc]);
}
