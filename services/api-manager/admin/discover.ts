import { z } from 'zod';
import { type OutboundClient, OutboundError } from '../../../lib/http/outbound.ts';

const wellKnownSchema = z.looseObject({
  issuer: z.string().min(1),
  token_endpoint: z.string().optional(),
  revocation_endpoint: z.string().optional(),
  introspection_endpoint: z.string().optional(),
  userinfo_endpoint: z.string().optional(),
  authorization_endpoint: z.string().optional(),
  jwks_uri: z.string().optional(),
  registration_endpoint: z.string().optional(),
  grant_types_supported: z.array(z.string()).optional(),
  scopes_supported: z.array(z.string()).optional(),
});

/**
 * `POST /key-managers/discover`: reads an OpenID Provider's well-known document (HTTPS, time-outs, size
 * cap) into a pre-filled KeyManagerDTO, as WSO2's `KeyManagerWellKnownResponseDTO` `{valid, value}`.
 * WSO2 IS-style key managers get the connector endpoints WSO2 IS serves beside its OAuth endpoints.
 */
export async function discoverKeyManager(
  outbound: OutboundClient,
  url: string,
  type: string,
): Promise<{ valid: boolean; value: Record<string, unknown> | null; description?: string }> {
  let document: unknown;
  try {
    document = await outbound.getJson(url);
  } catch (error) {
    if (error instanceof OutboundError) return { valid: false, value: null, description: error.message };
    throw error;
  }
  const parsed = wellKnownSchema.safeParse(document);
  if (!parsed.success) {
    return { valid: false, value: null, description: `${url} is not an OpenID Provider configuration` };
  }
  const wellKnown = parsed.data;
  const origin = new URL(url).origin;
  const isWso2Is = type === 'WSO2-IS' || type === 'ObKeyManager';
  return {
    valid: true,
    value: {
      type,
      wellKnownEndpoint: url,
      issuer: wellKnown.issuer,
      tokenEndpoint: wellKnown.token_endpoint ?? null,
      displayTokenEndpoint: wellKnown.token_endpoint ?? null,
      revokeEndpoint: wellKnown.revocation_endpoint ?? null,
      displayRevokeEndpoint: wellKnown.revocation_endpoint ?? null,
      introspectionEndpoint: wellKnown.introspection_endpoint ?? null,
      userInfoEndpoint: wellKnown.userinfo_endpoint ?? null,
      authorizeEndpoint: wellKnown.authorization_endpoint ?? null,
      clientRegistrationEndpoint: isWso2Is
        ? `${origin}/keymanager-operations/dcr/register`
        : (wellKnown.registration_endpoint ?? null),
      scopeManagementEndpoint: isWso2Is ? `${origin}/api/identity/oauth2/v1.0/scopes` : null,
      certificates: wellKnown.jwks_uri ? { type: 'JWKS', value: wellKnown.jwks_uri } : null,
      availableGrantTypes: wellKnown.grant_types_supported ?? [],
      enableTokenGeneration: true,
      enableMapOAuthConsumerApps: false,
      enableOAuthAppCreation: true,
      enableSelfValidationJWT: true,
      enableTokenEncryption: false,
      enableTokenHashing: false,
      consumerKeyClaim: 'azp',
      scopesClaim: 'scope',
      tokenValidation: [{ id: 1, enable: true, type: 'JWT', value: {} }],
      enabled: true,
      additionalProperties: {},
    },
  };
}
