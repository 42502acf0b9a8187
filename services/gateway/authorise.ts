import { InsufficientScope, InvalidClient, InvalidToken } from '../../lib/http/errors.ts';
import type { ClientIdentity } from './client-certificate.ts';
import type { Route } from './router.ts';
import type { ValidatedToken } from './tokens.ts';

/**
 * Pipeline step 3b: the operation's checks on a validated token — key manager enabled, certificate
 * binding, scopes, and for `/register/{ClientId}` the path client is the token's client.
 */
export function authorise(matched: Route, token: ValidatedToken, identity: ClientIdentity): ValidatedToken {
  if (!token.keyManager.enabled)
    throw new InvalidToken(`the key manager ${token.keyManager.name} is disabled`);
  if (token.boundThumbprint !== identity.thumbprint) {
    throw new InvalidToken('the access token is not bound to the presented client certificate');
  }
  for (const scope of matched.operation.scopes) {
    if (!token.scopes.has(scope)) throw new InsufficientScope(scope);
  }
  if (matched.operation.clientIdParameter) {
    const clientId = safeDecode(matched.parameters.at(-1) ?? '');
    if (clientId !== token.clientId) {
      throw new InvalidClient('the client in the path is not the client of the access token');
    }
  }
  return token;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
