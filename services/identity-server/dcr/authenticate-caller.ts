import type { FastifyRequest } from 'fastify';
import { InsufficientScope, InvalidClient, InvalidToken } from '../../../lib/http/errors.ts';
import { certificateThumbprint } from './certificate-thumbprint.ts';
import { findClient } from './client-store.ts';
import type { StoredClient } from './context.ts';
import type { DcrDependencies } from './dependencies.ts';

const REGISTRATION_SCOPE = 'cdr:registration';
/** Set by the gateway's in-sequence from the validated token's consumer key (WSO2's header). */
const CALLER_HEADER = 'x-wso2-client-id';

/**
 * Who is calling GET/PUT/DELETE /register/{ClientId}, and the client they may manage:
 * - through the gateway: the admin Basic credential its in-sequence sets, which vouches that the
 *   gateway validated the token, scope and certificate binding, and the caller in `x-wso2-client-id`;
 * - directly: a `cdr:registration` access token bound (RFC 8705 `cnf.x5t#S256`) to the client
 *   certificate of this connection.
 * Either way `{ClientId}` must be the caller's own, still registered client.
 */
export async function authenticateCaller(
  deps: DcrDependencies,
  request: FastifyRequest<{ Params: { clientId: string } }>,
): Promise<StoredClient> {
  const callerId = await callerClientId(deps, request);
  const client = callerId === request.params.clientId ? await findClient(deps.db, callerId) : undefined;
  if (!client) throw new InvalidClient('the client is unknown or not the caller');
  return client;
}

async function callerClientId(deps: DcrDependencies, request: FastifyRequest): Promise<string> {
  const authorization = request.headers.authorization;
  if (deps.isAdminCredential(authorization)) {
    const forwarded = request.headers[CALLER_HEADER];
    if (typeof forwarded !== 'string' || forwarded === '') {
      throw new InvalidClient(`${CALLER_HEADER} must name the calling client`);
    }
    return forwarded;
  }
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(authorization ?? '');
  if (!match) throw new InvalidToken('a Bearer access token is required');
  const claims = await deps.verifyAccessToken(match[1]!);
  const certificate = deps.clientCertificate(request);
  if (!certificate)
    throw new InvalidToken('the access token is certificate-bound: present the client certificate');
  if (claims.cnf?.['x5t#S256'] !== certificateThumbprint(certificate)) {
    throw new InvalidToken('the access token is not bound to the presented client certificate');
  }
  if (!claims.scope.split(' ').includes(REGISTRATION_SCOPE)) throw new InsufficientScope(REGISTRATION_SCOPE);
  return claims.client_id;
}
