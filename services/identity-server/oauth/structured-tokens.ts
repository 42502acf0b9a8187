import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AccessTokenVerifier } from './access-tokens.ts';

/**
 * Introspection and revocation of JWT access tokens.
 *
 * oidc-provider answers `unsupported_token_type` for structured tokens at both endpoints, but only after
 * it has parsed the request and authenticated the calling client. This middleware wraps the provider's
 * routes and takes over exactly that case: the client is authenticated, so it answers as RFC 7662 / 7009
 * require, from the token's verified claims and the revocations table. Every other request and
 * error (bad client authentication, missing token, ...) stays the provider's answer.
 */
export function structuredTokenEndpoints(verifier: AccessTokenVerifier) {
  return async function handleStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    await next();
    const body = ctx.body as { error?: string } | undefined;
    if (ctx.status !== 400 || body?.error !== 'unsupported_token_type') return;
    const oidc = ctx.oidc as KoaContextWithOIDC['oidc'] | undefined;
    const route = oidc?.route;
    const client = oidc?.client;
    const token = oidc?.params?.token;
    if (!client || typeof token !== 'string' || (route !== 'introspection' && route !== 'revocation')) return;

    const claims = await verifier.decode(token);
    if (route === 'introspection') {
      const active =
        claims !== undefined &&
        !(await verifier.isRevoked(claims)) &&
        (await verifier.clientExists(claims.client_id));
      ctx.status = 200;
      ctx.body = active
        ? {
            active: true,
            client_id: claims.client_id,
            scope: claims.scope || undefined,
            token_type: 'Bearer',
            iss: claims.iss,
            sub: claims.sub,
            aud: claims.aud,
            iat: claims.iat,
            exp: claims.exp,
            jti: claims.jti,
            cnf: claims.cnf,
          }
        : { active: false };
      return;
    }
    // Revocation: an invalid or foreign-issuer token is "already revoked" (RFC 7009 §2.2); a client may
    // revoke only its own tokens.
    if (claims && claims.client_id !== client.clientId) {
      ctx.status = 400;
      ctx.body = {
        error: 'invalid_request',
        error_description: 'client is not authorized to revoke the presented token',
      };
      return;
    }
    if (claims) await verifier.revoke(claims);
    ctx.status = 200;
    ctx.body = '';
  };
}
