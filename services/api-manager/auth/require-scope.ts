import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { ApiError } from '../../../lib/http/errors.ts';
import type { ManagementScope } from '../../../lib/wso2/management-api.ts';
import { bearerToken } from './credentials.ts';
import type { TokenClaims, TokenService } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: TokenClaims;
  }
}

/**
 * An onRequest hook admitting a request whose bearer token holds at least one of `scopes` (WSO2 lists
 * several accepted scopes per operation). No or invalid token → 401; missing scope → 403 — before the
 * body is read or the parameters are validated.
 */
export function requireScope(tokens: TokenService, ...scopes: ManagementScope[]): onRequestAsyncHookHandler {
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
