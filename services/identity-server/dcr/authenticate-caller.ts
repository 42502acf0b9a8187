import type { FastifyRequest } from 'fastify';
import { InvalidClient } from '../../../lib/http/errors.ts';
import { authorizeBearer } from '../oauth/access-tokens.ts';
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
  return (await authorizeBearer(request, deps, REGISTRATION_SCOPE)).client_id;
}
