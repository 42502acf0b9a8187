import type { FastifyRequest } from 'fastify';
import { AccessDenied, InvalidClient } from '../../../lib/http/errors.ts';
import { GatewayCredentialRequired } from '../admin/credential.ts';
import { authorizeBearer } from '../oauth/access-tokens.ts';
import { findClient } from './client-store.ts';
import type { StoredClient } from './context.ts';
import type { DcrDependencies } from './dependencies.ts';

const REGISTRATION_SCOPE = 'cdr:registration';
/** Set by the gateway's in-sequence from the validated token's consumer key (WSO2's header). */
const CALLER_HEADER = 'x-wso2-client-id';

/**
 * Who is calling GET/PUT/DELETE /register/{ClientId}, and the client they may manage:
 * - through the gateway: a Basic credential, which vouches that the gateway validated the token, scope
 *   and certificate binding, and the caller in `x-wso2-client-id` — honoured only on the gateway's own
 *   connection (internal CA, CN=obkit-gateway), so the credential alone opens nothing;
 * - directly: a `cdr:registration` access token bound (RFC 8705 `cnf.x5t#S256`) to the client
 *   certificate of this connection.
 * Either way `{ClientId}` must be the caller's own, still registered client, whose software product and
 * data recipient the CDR Register lists as ACTIVE (403 AdrStatusNotActive otherwise).
 */
export async function authenticateCaller(
  deps: DcrDependencies,
  request: FastifyRequest<{ Params: { clientId: string } }>,
): Promise<StoredClient> {
  const callerId = await callerClientId(deps, request);
  const client = callerId === request.params.clientId ? await findClient(deps.db, callerId) : undefined;
  if (!client) throw new InvalidClient('the client is unknown or not the caller');
  deps.registerStatus.assertActive(client);
  return client;
}

async function callerClientId(deps: DcrDependencies, request: FastifyRequest): Promise<string> {
  const authorization = request.headers.authorization;
  if (/^Basic\s/i.test(authorization?.trim() ?? '')) {
    // Refused before the credential is looked at: no password oracle for callers that are not the gateway.
    if (!deps.isGatewayConnection(request)) {
      deps.logger.warn(
        { remoteAddress: request.socket.remoteAddress },
        'DCR admin path refused: the connection is not the gateway',
      );
      throw new AccessDenied(
        "the DCR backend's Basic credential is accepted only on the gateway's internal mutual-TLS connection",
      );
    }
    if (!(await deps.isGatewayCredential(authorization))) throw new GatewayCredentialRequired();
    const forwarded = request.headers[CALLER_HEADER];
    if (typeof forwarded !== 'string' || forwarded === '') {
      throw new InvalidClient(`${CALLER_HEADER} must name the calling client`);
    }
    return forwarded;
  }
  return (await authorizeBearer(request, deps, REGISTRATION_SCOPE)).client_id;
}
