import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { ApiError } from '../../../lib/http/errors.ts';
import { bearerToken } from './credentials.ts';
import type { TokenClaims, TokenService } from './tokens.ts';

/** The scopes of WSO2's management REST APIs that api-manager understands. */
export const MANAGEMENT_SCOPES = [
  'apim:api_view',
  'apim:api_create',
  'apim:api_publish',
  'apim:api_delete',
  'apim:mediation_policy_create',
  'apim:mediation_policy_view',
  'apim:common_operation_policy_view',
  'apim:subscribe',
  'apim:app_manage',
  'apim:sub_manage',
  'apim:admin',
  'apim:tier_view',
  'apim:tier_manage',
] as const;
export type ManagementScope = (typeof MANAGEMENT_SCOPES)[number];

declare module 'fastify' {
  interface FastifyRequest {
    principal?: TokenClaims;
  }
}

/**
 * A preHandler admitting a request whose bearer token holds at least one of `scopes` (WSO2 lists
 * several accepted scopes per operation). No or invalid token → 401; missing scope → 403.
 */
export function requireScope(tokens: TokenService, ...scopes: ManagementScope[]): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization);
    if (!token) {
      throw new ApiError(
        401,
        'Unauthenticated',
        "Missing credentials: send the header 'Authorization: Bearer ACCESS_TOKEN'",
      );
    }
    const claims = await tokens.verify(token);
    if (!claims)
      throw new ApiError(
        401,
        'Unauthenticated',
        'Invalid credentials: the access token is invalid or expired',
      );
    if (!scopes.some((scope) => claims.scopes.includes(scope))) {
      throw new ApiError(
        403,
        'Forbidden',
        `User is NOT authorized to access the resource ${request.method} ${request.url.split('?')[0]}: ` +
          `scope validation failed (requires one of ${scopes.join(', ')})`,
      );
    }
    request.principal = claims;
  };
}

/** The calling user (or client, for client_credentials tokens) after `requireScope`. */
export function callerOf(request: FastifyRequest): string {
  return request.principal?.username ?? request.principal?.clientId ?? 'anonymous';
}
