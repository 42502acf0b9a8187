import type { Config } from '../../../lib/config/index.ts';

/**
 * The Request JWT rules of docs/dcr-rules.md as data, with WSO2's `[open_banking.dcr.registration.<key>]`
 * overrides applied once at start-up. An override may make a claim required or optional and may narrow
 * the allowed values; it never widens them beyond what obkit supports (a TOML line cannot enable `none`).
 * The audience is the exception: its allowed values replace the default (this server's issuer), as in WSO2.
 */

export const SIGNING_ALGORITHMS = ['PS256', 'ES256'] as const;
export const ENCRYPTION_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256'] as const;
export const ENCRYPTION_ENCODINGS = ['A256GCM', 'A128CBC-HS256'] as const;

export interface ClaimRule {
  /** undefined: decided per request (`authorization_signed_response_alg` is required when `code` is registered). */
  required: boolean | undefined;
  allowed?: readonly string[];
}

export type RegisteredClaim =
  | 'iat'
  | 'exp'
  | 'jti'
  | 'aud'
  | 'token_endpoint_auth_method'
  | 'token_endpoint_auth_signing_alg'
  | 'grant_types'
  | 'response_types'
  | 'id_token_signed_response_alg'
  | 'application_type'
  | 'request_object_signing_alg'
  | 'authorization_signed_response_alg'
  | 'authorization_encrypted_response_alg'
  | 'authorization_encrypted_response_enc'
  | 'id_token_encrypted_response_alg'
  | 'id_token_encrypted_response_enc';

export interface RegistrationRules {
  claims: Record<RegisteredClaim, ClaimRule>;
  /** SSA claims whose value always comes from the SSA, whatever the request says. */
  unmodifiable: readonly string[];
  clockSkewSeconds: number;
}

/** WSO2's key names where they differ from the claim names. */
export const WSO2_KEYS: Partial<Record<RegisteredClaim, string>> = {
  aud: 'audience',
  token_endpoint_auth_method: 'token_endpoint_authentication',
  id_token_encrypted_response_alg: 'id_token_encryption_response_alg',
  id_token_encrypted_response_enc: 'id_token_encryption_response_enc',
};

const DEFAULT_UNMODIFIABLE = [
  'iss',
  'org_id',
  'software_id',
  'software_roles',
  'legal_entity_id',
  'legal_entity_name',
];

export function registrationRules(config: Config): RegistrationRules {
  const hybrid = config.open_banking_cds.dcr.enable_hybrid_flow;
  const defaults: Record<RegisteredClaim, ClaimRule> = {
    iat: { required: true },
    exp: { required: true },
    jti: { required: true },
    // No list: this server's issuer, read per request (a test server learns its URL only once bound).
    aud: { required: true },
    token_endpoint_auth_method: { required: true, allowed: ['private_key_jwt'] },
    token_endpoint_auth_signing_alg: { required: true, allowed: SIGNING_ALGORITHMS },
    grant_types: { required: true, allowed: ['authorization_code', 'refresh_token', 'client_credentials'] },
    response_types: { required: true, allowed: hybrid ? ['code', 'code id_token'] : ['code'] },
    id_token_signed_response_alg: { required: true, allowed: SIGNING_ALGORITHMS },
    application_type: { required: false, allowed: ['web'] },
    request_object_signing_alg: { required: false, allowed: SIGNING_ALGORITHMS },
    authorization_signed_response_alg: { required: undefined, allowed: SIGNING_ALGORITHMS },
    authorization_encrypted_response_alg: { required: false, allowed: ENCRYPTION_ALGORITHMS },
    authorization_encrypted_response_enc: { required: false, allowed: ENCRYPTION_ENCODINGS },
    id_token_encrypted_response_alg: { required: false, allowed: ENCRYPTION_ALGORITHMS },
    id_token_encrypted_response_enc: { required: false, allowed: ENCRYPTION_ENCODINGS },
  };
  const overrides = config.open_banking.dcr.registration;
  const claims = { ...defaults };
  for (const claim of Object.keys(defaults) as RegisteredClaim[]) {
    const override = overrides[WSO2_KEYS[claim] ?? claim] ?? overrides[claim];
    if (!override) continue;
    const rule = { ...defaults[claim] };
    if (override.required !== undefined) rule.required = override.required;
    if (override.allowed_values) {
      rule.allowed =
        claim === 'aud'
          ? override.allowed_values
          : (defaults[claim].allowed ?? []).filter((value) => override.allowed_values!.includes(value));
    }
    claims[claim] = rule;
  }
  return {
    claims,
    unmodifiable: overrides.software_statement?.unmodifiable_metadata ?? DEFAULT_UNMODIFIABLE,
    clockSkewSeconds: config.open_banking_cds.dcr.clock_skew_seconds,
  };
}
