import type { RegistrationContext } from './context.ts';

/** Request claims that become client metadata; any other request claim is ignored and never echoed. */
const REQUESTED_METADATA = [
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'grant_types',
  'response_types',
  'id_token_signed_response_alg',
  'id_token_encrypted_response_alg',
  'id_token_encrypted_response_enc',
  'request_object_signing_alg',
  'authorization_signed_response_alg',
  'authorization_encrypted_response_alg',
  'authorization_encrypted_response_enc',
  'application_type',
] as const;

/** SSA claims that are oidc-provider client metadata. */
const ATTESTED_METADATA = [
  'jwks_uri',
  'client_name',
  'client_uri',
  'logo_uri',
  'policy_uri',
  'tos_uri',
] as const;

/** SSA claims rendered at the top level of the registration besides the client metadata. */
const ATTESTED_REGISTRATION = [
  'org_id',
  'org_name',
  'client_description',
  'revocation_uri',
  'recipient_base_uri',
  'software_id',
  'software_roles',
  'sector_identifier_uri',
  'legal_entity_id',
  'legal_entity_name',
] as const;

/** OpenID Connect Registration: `enc` defaults to A128CBC-HS256 when only `alg` is given. */
const DEFAULT_ENCRYPTION_ENCODING = 'A128CBC-HS256';

/**
 * Splits a validated request into oidc-provider client metadata (standard names only, what the token
 * endpoint loads) and the registration extras the endpoint renders. The Register's word wins: every
 * metadata value the SSA carries comes from the SSA (redirect URIs may be narrowed to a subset), and
 * the configured unmodifiable claims (`iss`, `org_id`, `software_id`…) are always the SSA's.
 */
export async function buildClientMetadata(context: RegistrationContext): Promise<void> {
  const { claims, ssa } = context;
  const metadata: Record<string, unknown> = {};
  for (const name of REQUESTED_METADATA) if (claims[name] !== undefined) metadata[name] = claims[name];
  metadata.application_type ??= 'web';
  metadata.request_object_signing_alg ??= 'PS256';
  for (const prefix of ['id_token', 'authorization'] as const) {
    if (metadata[`${prefix}_encrypted_response_alg`] !== undefined) {
      metadata[`${prefix}_encrypted_response_enc`] ??= DEFAULT_ENCRYPTION_ENCODING;
    }
  }
  for (const name of ATTESTED_METADATA) if (ssa[name] !== undefined) metadata[name] = ssa[name];
  metadata.redirect_uris = context.redirectUris;
  // Scopes this Data Holder does not serve (energy, telco…) are dropped silently, never rejected.
  const served = await context.runtime.scopes.names();
  metadata.scope = [...new Set((ssa.scope as string).split(' '))]
    .filter((scope) => served.has(scope))
    .join(' ');
  metadata.tls_client_certificate_bound_access_tokens = true;

  const registration: Record<string, unknown> = {};
  for (const name of [...ATTESTED_REGISTRATION, ...context.runtime.rules.unmodifiable]) {
    if (ssa[name] !== undefined && !(name in metadata)) registration[name] = ssa[name];
  }
  context.metadata = metadata;
  context.registration = registration;
}
