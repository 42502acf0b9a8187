import { decodeJwt, errors, jwtVerify } from 'jose';
import { OPTIONAL_SSA_CLAIMS, REQUIRED_SSA_CLAIMS } from '../../../lib/cdr/software-statement.ts';
import {
  InvalidClientMetadata,
  InvalidSoftwareStatement,
  TemporarilyUnavailable,
} from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';
import { KeySetUnavailable } from './key-set-cache.ts';

/** Required claims with checks of their own: the JWT's (jose), `redirect_uris` (its step), roles and scope (below). */
const CHECKED_APART = new Set<string>([
  'iss',
  'iat',
  'exp',
  'jti',
  'redirect_uris',
  'software_roles',
  'scope',
]);
const REQUIRED_STRINGS = REQUIRED_SSA_CLAIMS.filter((claim) => !CHECKED_APART.has(claim));
/** `software_environment` only picks the Register keys (see `verifySoftwareStatement`). */
const OPTIONAL_STRINGS = OPTIONAL_SSA_CLAIMS.filter((claim) => claim !== 'software_environment');
const SOFTWARE_ROLE = 'data-recipient-software-product';
const REQUIRED_SCOPES = ['openid', 'cdr:registration'];
/** Seconds a client is told to wait when the Register's keys cannot be had. */
const REGISTER_RETRY_AFTER = 30;

/**
 * Verifies the SSA against the Register's keys: `jwks_url_sandbox` when the SSA says it belongs to the
 * sandbox environment (claim and value configurable, as WSO2), `jwks_url_production` otherwise. Only
 * PS256, only the configured regulatory issuers (`cdr-register`), not expired, with every claim a
 * registration needs. When the Register cannot be reached and no key is cached, the fault is the Data
 * Holder's, so the client gets 503 rather than a 400 it cannot fix.
 */
export async function verifySoftwareStatement(context: RegistrationContext): Promise<void> {
  const { deps, registerKeys, rules } = context.runtime;
  const statement = context.claims.software_statement;
  if (statement === undefined || statement === null || statement === '') {
    throw new InvalidClientMetadata('Required parameter software statement cannot be null');
  }
  if (typeof statement !== 'string')
    throw new InvalidSoftwareStatement('the software statement must be a JWT string');
  let unverified: Record<string, unknown>;
  try {
    unverified = decodeJwt(statement);
  } catch {
    throw new InvalidSoftwareStatement('the software statement is malformed');
  }
  const dcr = deps.config.open_banking.dcr;
  const cds = deps.config.open_banking_cds.dcr;
  const sandbox = unverified[cds.software_environment_claim] === cds.software_environment_sandbox_value;
  const environment = sandbox ? 'sandbox' : 'production';
  const jwksUrl = sandbox ? dcr.jwks_url_sandbox : dcr.jwks_url_production;
  if (!jwksUrl) {
    throw new InvalidSoftwareStatement(
      `${environment} software statements are not accepted here (open_banking.dcr.jwks_url_${environment} is not set)`,
    );
  }
  try {
    const { payload } = await jwtVerify(statement, registerKeys.resolver(jwksUrl), {
      algorithms: ['PS256'],
      issuer: dcr.regulatory_issuers.iss.map((issuer) => issuer.name),
      clockTolerance: rules.clockSkewSeconds,
      requiredClaims: ['iss', 'iat', 'exp', 'jti'],
    });
    context.ssa = payload as RegistrationContext['ssa'];
  } catch (error) {
    if (error instanceof KeySetUnavailable) {
      deps.logger.warn({ err: error.message }, 'Register JWKS unavailable and nothing cached');
      throw new TemporarilyUnavailable(
        'the CDR Register keys cannot be retrieved; try again later',
        REGISTER_RETRY_AFTER,
      );
    }
    throw new InvalidSoftwareStatement(describeFailure(error, environment));
  }
  context.softwareStatement = statement;
  checkSoftwareStatementClaims(context.ssa);
}

function describeFailure(error: unknown, environment: string): string {
  if (error instanceof errors.JWTExpired) return 'the software statement has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === 'iss'
      ? 'the software statement was not issued by the CDR Register'
      : `the software statement claim ${error.claim} is invalid: ${error.reason}`;
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return `no ${environment} Register key matches the software statement`;
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'the software statement signature is invalid';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the software statement must be signed with PS256';
  return 'the software statement is malformed';
}

function checkSoftwareStatementClaims(ssa: Record<string, unknown>): void {
  for (const claim of REQUIRED_STRINGS) {
    if (typeof ssa[claim] !== 'string' || ssa[claim] === '') {
      throw new InvalidSoftwareStatement(`the software statement lacks ${claim}`);
    }
  }
  for (const claim of OPTIONAL_STRINGS) {
    if (ssa[claim] !== undefined && typeof ssa[claim] !== 'string') {
      throw new InvalidSoftwareStatement(`the software statement claim ${claim} must be a string`);
    }
  }
  if (ssa.software_roles !== SOFTWARE_ROLE) {
    throw new InvalidSoftwareStatement(`the software statement's software_roles must be ${SOFTWARE_ROLE}`);
  }
  const scopes = typeof ssa.scope === 'string' ? ssa.scope.split(' ') : [];
  for (const scope of REQUIRED_SCOPES) {
    if (!scopes.includes(scope))
      throw new InvalidSoftwareStatement(`the software statement's scope lacks ${scope}`);
  }
}
