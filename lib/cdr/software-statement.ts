import { decodeJwt } from 'jose';

/**
 * The software statement assertion (SSA): a JWT the CDR Register signs (PS256) for one software product,
 * which an Accredited Data Recipient presents in its registration request. Claim names are the CDR
 * Register's; see docs/dcr-rules.md, "The software statement (SSA)".
 */

/** `iss` of every SSA the CDR Register (and obkit's sandbox Register) signs. */
export const REGISTER_ISSUER = 'cdr-register';

/** The only `software_roles` value a registrable SSA carries. */
export const SOFTWARE_ROLE = 'data-recipient-software-product';

/** SSA lifetime the Register grants: `exp - iat`, in seconds. */
export const SSA_LIFETIME_SECONDS = 600;

/** What the Register knows about a software product and copies into each SSA it signs. */
export interface SoftwareProductMetadata {
  org_id: string;
  org_name: string;
  client_name: string;
  client_description: string;
  client_uri: string;
  redirect_uris: string[];
  logo_uri: string;
  tos_uri?: string;
  policy_uri?: string;
  jwks_uri: string;
  revocation_uri: string;
  recipient_base_uri: string;
  /** Space-separated scopes the product may request; always includes `openid` and `cdr:registration`. */
  scope: string;
  sector_identifier_uri?: string;
  legal_entity_id?: string;
  legal_entity_name?: string;
}

export interface SoftwareStatementClaims extends SoftwareProductMetadata {
  iss: string;
  iat: number;
  exp: number;
  jti: string;
  /** The software product ID. */
  software_id: string;
  software_roles: string;
  /** `sandbox` on SSAs that must be verified against the sandbox Register keys (WSO2's discriminator). */
  software_environment?: string;
}

/** Claims a Data Holder requires on every SSA. */
export const REQUIRED_SSA_CLAIMS = [
  'iss',
  'iat',
  'exp',
  'jti',
  'org_id',
  'org_name',
  'client_name',
  'client_description',
  'client_uri',
  'redirect_uris',
  'logo_uri',
  'jwks_uri',
  'revocation_uri',
  'recipient_base_uri',
  'software_id',
  'software_roles',
  'scope',
] as const satisfies readonly (keyof SoftwareStatementClaims)[];

/** Optional SSA claims a Data Holder accepts. */
export const OPTIONAL_SSA_CLAIMS = [
  'legal_entity_id',
  'legal_entity_name',
  'sector_identifier_uri',
  'tos_uri',
  'policy_uri',
  'software_environment',
] as const satisfies readonly (keyof SoftwareStatementClaims)[];

/**
 * Reads an SSA's claims WITHOUT verifying its signature: for a recipient building its own registration
 * request from the statement it was handed. A Data Holder must verify against the Register JWKS instead.
 */
export function readSoftwareStatement(ssa: string): SoftwareStatementClaims {
  return decodeJwt(ssa) as unknown as SoftwareStatementClaims;
}
