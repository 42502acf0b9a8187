import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, InvalidClient, InvalidRequest, OAuthError } from '../../../lib/http/errors.ts';
import { adminLockoutOf } from '../../../lib/limits/admin-lockout.ts';
import { MANAGEMENT_SCOPES } from '../../../lib/wso2/management-api.ts';
import type { ApiManagerContext } from '../context.ts';
import { invalidField } from '../request.ts';
import { ClientStore, type ResidentClient } from './clients.ts';
import { basicCredentials, safeEqual } from './credentials.ts';

const registrationSchema = z.object({
  clientName: z.string().min(1).max(200),
  owner: z.string().optional(),
  callbackUrl: z.string().nullish(),
  grantType: z.string().optional(),
  saasApp: z.boolean().optional(),
});

const SUPPORTED_GRANTS = new Set(['password', 'client_credentials']);

/**
 * WSO2's management authentication: `POST /client-registration/v0.17/register` (admin Basic) creates a
 * management client once per name; `POST /oauth2/token` issues resident key manager tokens carrying
 * the requested `apim:*` scopes; `/oauth2/jwks` publishes the key that signs them.
 */
export function registerAuthRoutes(app: FastifyInstance, context: ApiManagerContext): void {
  const clients = new ClientStore(context.db, context.secrets);
  const admin = context.config.obkit.admin;
  const lockout = adminLockoutOf(context.db, context.config, app.log);
  // Behind the lockout: while the account is locked this throws 429 + Retry-After, whatever the password.
  const isAdmin = (username: string, password: string) =>
    lockout.check(username, () => safeEqual(username, admin.username) && safeEqual(password, admin.password));

  app.post('/client-registration/v0.17/register', async (request, reply) => {
    const credentials = basicCredentials(request.headers.authorization);
    if (!credentials || !(await isAdmin(credentials.username, credentials.password))) {
      throw new ApiError(
        401,
        'Unauthenticated',
        'the admin Basic credential is required to register a client',
      );
    }
    const parsed = registrationSchema.safeParse(request.body);
    if (!parsed.success) throw invalidField(parsed.error);
    const body = parsed.data;
    const grantTypes = (body.grantType ?? 'client_credentials password refresh_token')
      .split(/\s+/)
      .filter(Boolean);
    const client = await clients.registerManagement({
      clientName: body.clientName,
      owner: body.owner || credentials.username,
      grantTypes,
      callbackUrl: body.callbackUrl ?? null,
    });
    reply.code(200).send({
      clientId: client.clientId,
      clientName: client.clientName,
      callBackURL: client.callbackUrl,
      clientSecret: client.clientSecret,
      isSaasApplication: body.saasApp ?? true,
      appOwner: client.owner,
      jsonString: JSON.stringify({
        grant_types: client.grantTypes.join(' '),
        redirect_uris: client.callbackUrl ?? '',
      }),
      jsonAppAttribute: '{}',
      tokenType: null,
    });
  });

  tokenRoute(app, context, clients, isAdmin);
  app.get('/oauth2/jwks', async () => context.tokens.jwks());
}

/** `POST /oauth2/token`: client credentials, and the admin's password grant for management clients. */
function tokenRoute(
  app: FastifyInstance,
  context: ApiManagerContext,
  clients: ClientStore,
  isAdmin: (username: string, password: string) => Promise<boolean>,
): void {
  app.post('/oauth2/token', async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    if (typeof request.body !== 'object' || request.body === null) {
      throw new InvalidRequest('the token request must be application/x-www-form-urlencoded');
    }
    const client = await authenticateClient(clients, request.headers.authorization, form);
    const grantType = form.grant_type;
    if (!grantType || !SUPPORTED_GRANTS.has(grantType)) {
      throw new OAuthError(
        400,
        'unsupported_grant_type',
        `grant_type must be one of ${[...SUPPORTED_GRANTS].join(', ')}`,
      );
    }
    if (!client.grantTypes.includes(grantType)) {
      throw new OAuthError(400, 'unauthorized_client', `the client may not use the ${grantType} grant`);
    }
    let username: string | undefined;
    if (grantType === 'password') {
      if (client.kind !== 'management' || !(await isAdmin(form.username ?? '', form.password ?? ''))) {
        throw new OAuthError(400, 'invalid_grant', 'invalid resource owner credentials');
      }
      username = form.username;
    }
    const scopes = grantedScopes(client, form.scope);
    const token = await context.tokens.issue({ clientId: client.clientId, username, scopes });
    reply.header('cache-control', 'no-store').send({
      access_token: token.accessToken,
      scope: scopes.join(' '),
      token_type: 'Bearer',
      expires_in: token.expiresIn,
    });
  });
}

/**
 * Management clients (owned by the admin) get the `apim:*` scopes they ask for; application clients
 * get any requested scope except `apim:*`. With no requested scope a token carries `default`, as WSO2.
 */
function grantedScopes(client: ResidentClient, requested: string | undefined): string[] {
  const asked = (requested ?? '').split(/\s+/).filter(Boolean);
  const management = new Set<string>(MANAGEMENT_SCOPES);
  const granted = asked.filter((scope) =>
    client.kind === 'management' ? management.has(scope) : !scope.startsWith('apim:'),
  );
  return granted.length > 0 ? [...new Set(granted)] : ['default'];
}

async function authenticateClient(
  clients: ClientStore,
  authorization: string | undefined,
  form: Record<string, string | undefined>,
): Promise<ResidentClient> {
  const basic = basicCredentials(authorization);
  const clientId = basic ? decodeCredential(basic.username) : form.client_id;
  const secret = basic ? decodeCredential(basic.password) : form.client_secret;
  if (!clientId || !secret) throw new InvalidClient('client authentication is required');
  const client = await clients.authenticate(clientId, secret);
  if (!client) throw new InvalidClient('client authentication failed');
  return client;
}

/** RFC 6749 §2.3.1: Basic client credentials are percent-encoded; malformed encoding is a failed authentication. */
function decodeCredential(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new InvalidClient('the client credentials are not valid percent-encoding');
  }
}
