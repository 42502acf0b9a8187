import { randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import type { RecipientKeys } from '../../lib/cdr/recipient.ts';
import { type ConsentDecision, pkce, walkSandboxConsent } from '../../lib/cdr/sandbox-consent.ts';
import {
  type ClientIdentity,
  clientAssertion,
  type StartedIdentityServer,
  type TestResponse,
} from './identity-server.ts';

/**
 * A recipient's side of the CDR authorisation flow, for tests: PKCE, signed request objects, PAR over
 * mutual TLS with private_key_jwt, and an HTTP walk through the sandbox consent pages with a cookie jar.
 */

export const REDIRECT_URI = 'https://recipient.example/callback';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface RequestObjectOptions {
  clientId: string;
  keys: RecipientKeys;
  audience: string;
  /** Claims replacing (or, when undefined, removing) the defaults. */
  claims?: Record<string, unknown>;
  /** `none` for an unsigned request object; `HS256` with `secret`. */
  alg?: 'PS256' | 'ES256' | 'none' | 'HS256';
  secret?: Uint8Array;
}

/** A CDR authorisation request object: code + JARM, PKCE S256, openid and account scopes, 5 minutes. */
export async function requestObject(
  options: RequestObjectOptions,
): Promise<{ jwt: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: options.clientId,
    aud: options.audience,
    client_id: options.clientId,
    response_type: 'code',
    response_mode: 'jwt',
    redirect_uri: REDIRECT_URI,
    scope: 'openid bank:accounts.basic:read',
    state: randomUUID(),
    nonce: randomUUID(),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    sharing_duration: 3600,
    nbf: now,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
  };
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  const alg = options.alg ?? options.keys.alg;
  if (alg === 'none') return { jwt: new UnsecuredJWT(claims).encode(), verifier };
  const jwt = await new SignJWT(claims)
    .setProtectedHeader(alg === 'HS256' ? { alg } : { alg, kid: options.keys.kid })
    .sign(alg === 'HS256' ? (options.secret ?? randomBytes(32)) : options.keys.privateKey);
  return { jwt, verifier };
}

/** `POST /oauth2/par` with private_key_jwt over the given TLS identity (default the sandbox ADR's). */
export async function pushAuthorizationRequest(
  is: StartedIdentityServer,
  client: { clientId: string; keys: RecipientKeys; request?: string; identity?: ClientIdentity | null },
  extra: Record<string, string> = {},
): Promise<TestResponse> {
  const form = new URLSearchParams({
    client_id: client.clientId,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await clientAssertion(client.keys, client.clientId, is.issuer),
    ...(client.request !== undefined ? { request: client.request } : {}),
    ...extra,
  });
  return is.request('/oauth2/par', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    ...(client.identity !== undefined ? { identity: client.identity } : {}),
  });
}

export function authorizePath(clientId: string, requestUri: string): string {
  return `/oauth2/authorize?${new URLSearchParams({ client_id: clientId, request_uri: requestUri })}`;
}

/**
 * Follows the browser's path from `/oauth2/authorize` to the redirect back to the recipient with plain
 * form posts (lib/cdr/sandbox-consent.ts, as the smoke test does). Returns the final redirect's URL.
 */
export function consentOverHttp(
  is: StartedIdentityServer,
  start: string,
  decision: ConsentDecision,
): Promise<URL> {
  return walkSandboxConsent(
    async (method, url, init) => {
      const target = new URL(url);
      return is.request(`${target.pathname}${target.search}`, { method, ...init });
    },
    new URL(start, is.url).toString(),
    decision,
  );
}

/** The JARM response a redirect carries, verified with the identity server's published keys. */
export async function jarmResponse(
  is: StartedIdentityServer,
  redirect: URL,
  clientId: string,
): Promise<Record<string, unknown>> {
  const response = redirect.searchParams.get('response');
  if (!response) throw new Error(`no JARM response in ${redirect}`);
  const jwks = createLocalJWKSet((await is.request('/oauth2/jwks')).json());
  const { payload } = await jwtVerify(response, jwks, { issuer: is.issuer, audience: clientId });
  return payload;
}

/** `authorization_code` with PKCE and private_key_jwt at /oauth2/token over the given TLS identity. */
export async function exchangeCode(
  is: StartedIdentityServer,
  client: { clientId: string; keys: RecipientKeys; identity?: ClientIdentity | null },
  code: string,
  verifier: string | undefined,
  redirectUri = REDIRECT_URI,
): Promise<TestResponse> {
  return tokenRequest(is, client, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    ...(verifier !== undefined ? { code_verifier: verifier } : {}),
  });
}

/** Any grant at /oauth2/token with private_key_jwt over the given TLS identity. */
export async function tokenRequest(
  is: StartedIdentityServer,
  client: { clientId: string; keys: RecipientKeys; identity?: ClientIdentity | null },
  form: Record<string, string>,
  path = '/oauth2/token',
): Promise<TestResponse> {
  return is.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: client.clientId,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await clientAssertion(client.keys, client.clientId, is.issuer),
      ...form,
    }).toString(),
    ...(client.identity !== undefined ? { identity: client.identity } : {}),
  });
}
