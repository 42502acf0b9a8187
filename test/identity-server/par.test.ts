import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import {
  authorizePath,
  pushAuthorizationRequest,
  REDIRECT_URI,
  requestObject,
} from '../support/authorization.ts';
import {
  insertCdrClient,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
  type TestResponse,
} from '../support/identity-server.ts';

/** Pushed authorisation requests (RFC 9126) as the CDR profiles them, over real mutual TLS with real keys. */
let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let clientId: string;

beforeAll(async () => {
  is = await startIdentityServer();
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
});

afterAll(async () => {
  await jwks?.close();
  await is?.close();
});

const signed = (claims?: Record<string, unknown>, alg?: 'PS256' | 'ES256' | 'none' | 'HS256') =>
  requestObject({
    clientId,
    keys,
    audience: is.issuer,
    ...(claims ? { claims } : {}),
    ...(alg ? { alg } : {}),
  });

const push = async (claims?: Record<string, unknown>, alg?: 'PS256' | 'ES256' | 'none' | 'HS256') =>
  pushAuthorizationRequest(is, { clientId, keys, request: (await signed(claims, alg)).jwt });

/** The error in a redirect to the client's registered redirect URI. */
function errorAtRedirect(response: TestResponse): Record<string, string> {
  expect(response.status, response.text).toBe(303);
  const location = new URL(String(response.headers.location));
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  const { error, error_description: description } = Object.fromEntries(location.searchParams);
  return { error: error!, error_description: description! };
}

describe('pushed authorisation requests', () => {
  it('discovery advertises PAR (required), signed request objects, PKCE S256 and JARM', async () => {
    const metadata = (await is.request('/oauth2/token/.well-known/openid-configuration')).json();
    expect(metadata).toMatchObject({
      pushed_authorization_request_endpoint: `${is.url}/oauth2/par`,
      require_pushed_authorization_requests: true,
      require_signed_request_object: true,
      request_object_signing_alg_values_supported: expect.arrayContaining(['PS256', 'ES256']),
      code_challenge_methods_supported: ['S256'],
      response_types_supported: expect.arrayContaining(['code']),
      response_modes_supported: expect.arrayContaining(['jwt']),
      authorization_signing_alg_values_supported: expect.arrayContaining(['PS256', 'ES256']),
    });
    expect(metadata.mtls_endpoint_aliases.pushed_authorization_request_endpoint).toBe(`${is.url}/oauth2/par`);
  });

  it('accepts a signed request object over mutual TLS: a short-lived request_uri that opens consent once', async () => {
    const pushed = await push();
    expect(pushed.status, pushed.text).toBe(201);
    const { request_uri: requestUri, expires_in: expiresIn } = pushed.json();
    expect(requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(expiresIn).toBeGreaterThan(0);
    expect(expiresIn).toBeLessThanOrEqual(60);

    const first = await is.request(authorizePath(clientId, requestUri));
    expect(first.status, first.text).toBe(303);
    expect(first.headers.location).toMatch(/^\/consent\/[\w-]+$/);

    const again = await is.request(authorizePath(clientId, requestUri));
    expect(again.status).toBe(400);
    expect(again.json()).toMatchObject({ error: 'invalid_request_uri' });
    // A browser is told on a page.
    const page = await is.request(authorizePath(clientId, requestUri), { headers: { accept: 'text/html' } });
    expect(page.status).toBe(400);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('invalid_request_uri');
  });

  it('accepts ES256 request objects from a client with an ES256 key', async () => {
    const esKeys = await createRecipientKeys({ alg: 'ES256' });
    const esJwks = await startJwksServer(is.pki, esKeys.jwks);
    try {
      const esClient = await insertCdrClient(is.db, {
        jwksUri: esJwks.url,
        metadata: { token_endpoint_auth_signing_alg: 'ES256' },
      });
      const { jwt } = await requestObject({ clientId: esClient, keys: esKeys, audience: is.issuer });
      const pushed = await pushAuthorizationRequest(is, { clientId: esClient, keys: esKeys, request: jwt });
      expect(pushed.status, pushed.text).toBe(201);
    } finally {
      await esJwks.close();
    }
  });

  it('refuses the authorisation endpoint without a pushed request_uri', async () => {
    const { jwt } = await signed();
    const plain = await is.request(
      `/oauth2/authorize?${new URLSearchParams({ client_id: clientId, request: jwt })}`,
    );
    // The error goes back to the client's one registered redirect URI, never to one from the request.
    expect(errorAtRedirect(plain)).toEqual({
      error: 'invalid_request',
      error_description: 'Pushed Authorization Request must be used',
    });
    const unknown = await is.request(authorizePath(clientId, 'urn:ietf:params:oauth:request_uri:nope'));
    expect(errorAtRedirect(unknown).error).toBe('invalid_request_uri');
    const posted = await is.request('/oauth2/authorize', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: clientId,
        request_uri: 'urn:ietf:params:oauth:request_uri:x',
      }).toString(),
    });
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
  });

  it('refuses an expired request_uri', async () => {
    const now = Math.floor(Date.now() / 1000);
    const pushed = await push({ exp: now + 2 });
    expect(pushed.status, pushed.text).toBe(201);
    expect(pushed.json().expires_in).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const late = await is.request(authorizePath(clientId, pushed.json().request_uri));
    expect(errorAtRedirect(late).error).toBe('invalid_request_uri');
  });

  it('refuses unsigned and HS256 request objects, and plain parameters without one', async () => {
    for (const alg of ['none', 'HS256'] as const) {
      const response = await push(undefined, alg);
      expect(response.status, alg).toBe(400);
      expect(response.json().error, alg).toBe('invalid_request_object');
    }
    const plain = await pushAuthorizationRequest(
      is,
      { clientId, keys },
      { response_type: 'code', redirect_uri: 'https://recipient.example/callback', scope: 'openid' },
    );
    expect(plain.status).toBe(400);
    expect(plain.json()).toMatchObject({ error: 'invalid_request' });
    expect(plain.json().error_description).toMatch(/Request Object must be used/);
  });

  it('refuses a request object signed by a key the client did not register', async () => {
    const stranger = await createRecipientKeys();
    const { jwt } = await requestObject({
      clientId,
      keys: { ...stranger, kid: keys.kid },
      audience: is.issuer,
    });
    const response = await pushAuthorizationRequest(is, { clientId, keys, request: jwt });
    expect(response.status).toBe(400);
    expect(response.json().error).toBe('invalid_request_object');
  });

  it('refuses request objects whose lifetime exceeds 60 minutes, lack nbf or exp, or are for another audience', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, Record<string, unknown>]> = [
      ['exp − nbf over 60 minutes', { nbf: now, exp: now + 3601 }],
      ['no nbf', { nbf: undefined }],
      ['no exp', { exp: undefined }],
      ['another audience', { aud: 'https://other.example/oauth2/token' }],
      ['already expired', { nbf: now - 600, exp: now - 300 }],
    ];
    for (const [name, claims] of cases) {
      const response = await push(claims);
      expect(response.status, name).toBe(400);
      expect(response.json().error, name).toBe('invalid_request_object');
    }
  });

  it('requires PKCE with S256', async () => {
    const missing = await push({ code_challenge: undefined, code_challenge_method: undefined });
    expect(missing.status).toBe(400);
    expect(missing.json()).toMatchObject({ error: 'invalid_request' });
    expect(missing.json().error_description).toMatch(/PKCE/);
    const plain = await push({ code_challenge_method: 'plain' });
    expect(plain.status).toBe(400);
    expect(plain.json().error).toBe('invalid_request');
  });

  it('requires response_type=code with response_mode=jwt (JARM)', async () => {
    const query = await push({ response_mode: 'query' });
    expect(query.status).toBe(400);
    expect(query.json().error).toBe('invalid_request');
    const token = await push({ response_type: 'token' });
    expect(token.status).toBe(400);
    expect(token.json().error).toMatch(
      /^(unsupported_response_type|invalid_request_object|invalid_request)$/,
    );
  });

  it('refuses a redirect URI the client did not register', async () => {
    const response = await push({ redirect_uri: 'https://attacker.example/callback' });
    expect(response.status).toBe(400);
    expect(response.json().error).toBe('invalid_request');
    expect(response.json().error_description).toMatch(/redirect_uri/);
  });

  it('checks sharing_duration and cdr_arrangement_id', async () => {
    const negative = await push({ sharing_duration: -1 });
    expect(negative.status).toBe(400);
    expect(negative.json()).toMatchObject({
      error: 'invalid_request',
      error_description: 'sharing_duration must not be negative',
    });
    const unknown = await push({ cdr_arrangement_id: 'no-such-arrangement' });
    expect(unknown.status).toBe(400);
    expect(unknown.json()).toMatchObject({
      error: 'invalid_request',
      error_description: 'cdr_arrangement_id is not an active arrangement of this client',
    });
    // Longer than a year is accepted (and shortened to a year when consented).
    expect((await push({ sharing_duration: 10 * 365 * 24 * 3600 })).status).toBe(201);
  });

  it('requires client authentication and a client certificate', async () => {
    const { jwt } = await signed();
    const noCertificate = await pushAuthorizationRequest(is, {
      clientId,
      keys,
      request: jwt,
      identity: null,
    });
    expect(noCertificate.status).toBe(401);
    expect(noCertificate.json().error).toBe('invalid_client');
    const noAssertion = await is.request('/oauth2/par', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, request: jwt }).toString(),
    });
    expect(noAssertion.status).toBe(401);
    expect(noAssertion.json().error).toBe('invalid_client');
  });
});
