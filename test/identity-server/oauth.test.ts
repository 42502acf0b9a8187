import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { encodeCertificateHeader } from '../../lib/http/forwarded-certificate.ts';
import { authorizeBearer } from '../../services/identity-server/oauth/access-tokens.ts';
import { postgresTarget } from '../support/database.ts';
import {
  type ClientIdentity,
  clientAssertion,
  insertCdrClient,
  requestClientCredentialsToken,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

const postgres = await postgresTarget();
if (!postgres)
  console.log(
    'identity-server OAuth suite on PostgreSQL skipped: OBKIT_TEST_DATABASE_URL unset or unreachable',
  );
const targets = [
  { name: 'PGlite', databaseUrl: undefined },
  ...(postgres ? [{ name: 'PostgreSQL', databaseUrl: postgres.url }] : []),
];

const thumbprintOf = (identity: ClientIdentity) =>
  certificateThumbprint(new X509Certificate(identity.certificatePem));

describe.each(targets)('OAuth core on $name', ({ databaseUrl }) => {
  let is: StartedIdentityServer;
  let keys: RecipientKeys;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let clientId: string;
  let otherIdentity: ClientIdentity;

  beforeAll(async () => {
    is = await startIdentityServer({
      databaseUrl,
      // A resource that checks tokens the way the DCR endpoint does: valid, bound to the caller's certificate.
      routes: (app, deps) => {
        app.get('/test/protected', async (request) => {
          const claims = await authorizeBearer(request, deps, 'cdr:registration');
          return { client_id: claims.client_id };
        });
      },
    });
    keys = await createRecipientKeys();
    jwks = await startJwksServer(is.pki, keys.jwks);
    clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
    otherIdentity = await is.pki.issueClient();
  });

  afterAll(async () => {
    await jwks?.close();
    await is?.close();
  });

  const token = async (identity?: ClientIdentity | null, headers?: Record<string, string>) => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(keys, clientId, is.issuer),
      scope: 'cdr:registration',
    });
    return is.request('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form.toString(),
      ...(identity !== undefined ? { identity } : {}),
    });
  };

  const introspect = async (accessToken: string) =>
    is.request('/oauth2/introspect', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: accessToken,
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await clientAssertion(keys, clientId, is.issuer),
      }).toString(),
    });

  const callProtected = (accessToken: string, identity?: ClientIdentity | null) =>
    is.request('/test/protected', {
      headers: { authorization: `Bearer ${accessToken}` },
      ...(identity !== undefined ? { identity } : {}),
    });

  it('issues a PS256 JWT access token bound to the presented certificate', async () => {
    const response = await requestClientCredentialsToken(is, { clientId, keys, scope: 'cdr:registration' });
    expect(response.status, response.text).toBe(200);
    const body = response.json();
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBeGreaterThan(0);
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({
      iss: is.issuer,
      aud: is.url,
      client_id: clientId,
      scope: 'cdr:registration',
      cnf: { 'x5t#S256': thumbprintOf(is.clientIdentity) },
    });
  });

  it('refuses scopes the client did not register', async () => {
    const response = await requestClientCredentialsToken(is, {
      clientId,
      keys,
      scope: 'cdr:registration bank:payees:read',
    });
    expect(response.status, response.text).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_scope', scope: 'bank:payees:read' });
  });

  it('validates the token at /oauth2/introspect with its certificate binding', async () => {
    const accessToken = (await token()).json().access_token;
    const response = await introspect(accessToken);
    expect(response.status, response.text).toBe(200);
    expect(response.json()).toMatchObject({
      active: true,
      client_id: clientId,
      scope: 'cdr:registration',
      cnf: { 'x5t#S256': thumbprintOf(is.clientIdentity) },
    });
  });

  it('accepts the token with its own certificate and rejects it with another one or none', async () => {
    const accessToken = (await token()).json().access_token;
    expect((await callProtected(accessToken)).status).toBe(200);

    const other = await callProtected(accessToken, otherIdentity);
    expect(other.status).toBe(401);
    expect(other.json().error).toBe('invalid_token');
    expect(other.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);

    expect((await callProtected(accessToken, null)).status).toBe(401);
  });

  it('revokes a JWT access token at /oauth2/revoke: introspection and resources then reject it', async () => {
    const accessToken = (await token()).json().access_token;
    const revoked = await is.request('/oauth2/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: accessToken,
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await clientAssertion(keys, clientId, is.issuer),
      }).toString(),
    });
    expect(revoked.status, revoked.text).toBe(200);
    expect((await introspect(accessToken)).json()).toEqual({ active: false });
    const response = await callProtected(accessToken);
    expect(response.status).toBe(401);
    expect(response.json().error_description).toMatch(/revoked/);
  });

  it('rejects a client assertion signed with an algorithm other than PS256/ES256', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: keys.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(is.issuer)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    const response = await is.request('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: rs256,
      }).toString(),
    });
    expect(response.status).toBe(401);
    expect(response.json().error).toBe('invalid_client');
  });

  it('rejects a client assertion signed by a key not in the client JWKS', async () => {
    const stranger = await createRecipientKeys();
    const response = await requestClientCredentialsToken(is, {
      clientId,
      keys: { ...stranger, kid: keys.kid },
      scope: 'cdr:registration',
    });
    expect(response.status).toBe(401);
    expect(response.json().error).toBe('invalid_client');
  });

  it('accepts a client assertion once: a replay, sequential or concurrent, is invalid_client', async () => {
    const send = (assertion: string) =>
      is.request('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
          scope: 'cdr:registration',
        }).toString(),
      });
    const assertion = await clientAssertion(keys, clientId, is.issuer);
    const first = await send(assertion);
    expect(first.status, first.text).toBe(200);
    const replayed = await send(assertion);
    expect(replayed.status).toBe(401);
    expect(replayed.json()).toMatchObject({ error: 'invalid_client' });

    const racing = await Promise.all(Array.from({ length: 6 }, () => send(assertion)));
    expect(racing.every((response) => response.status === 401)).toBe(true);
    const fresh = await clientAssertion(keys, clientId, is.issuer);
    const twins = await Promise.all(Array.from({ length: 6 }, () => send(fresh)));
    expect(twins.map((response) => response.status).sort()).toEqual([200, 401, 401, 401, 401, 401]);
  });

  it('accepts ES256 client assertions', async () => {
    const es256 = await createRecipientKeys({ alg: 'ES256' });
    const es256Jwks = await startJwksServer(is.pki, es256.jwks);
    try {
      const id = await insertCdrClient(is.db, {
        jwksUri: es256Jwks.url,
        metadata: { token_endpoint_auth_signing_alg: 'ES256', id_token_signed_response_alg: 'ES256' },
      });
      const response = await requestClientCredentialsToken(is, {
        clientId: id,
        keys: es256,
        scope: 'cdr:registration',
      });
      expect(response.status, response.text).toBe(200);
    } finally {
      await es256Jwks.close();
    }
  });

  it('refuses a certificate-bound client without a certificate meeting the client-certificate rules', async () => {
    const untrusted = await is.pki.issueUntrustedClient();
    // Trusted CA, but no clientAuth EKU: the gateway refuses it, and so does the identity server.
    const noEku = await is.pki.issueNonconformingClient({ name: 'no-eku', extendedKeyUsages: null });
    const expired = await is.pki.issueNonconformingClient({ name: 'expired', validDays: -1 });
    for (const identity of [null, untrusted, noEku, expired]) {
      const response = await token(identity);
      expect(response.status, response.text).toBe(400);
      expect(response.json().error).toBe('invalid_grant');
    }
  });

  it('honours the gateway-forwarded certificate only on the gateway connection', async () => {
    const forwarded = { 'x-wso2-mutual-auth-cert': encodeCertificateHeader(otherIdentity.certificatePem) };
    const viaGateway = await token(is.gatewayIdentity, forwarded);
    expect(viaGateway.status, viaGateway.text).toBe(200);
    expect(decodeJwt(viaGateway.json().access_token).cnf).toEqual({
      'x5t#S256': thumbprintOf(otherIdentity),
    });

    const warn = vi.spyOn(is.server.service.logger, 'warn');
    try {
      const spoofed = await token(is.clientIdentity, forwarded);
      expect(spoofed.status, spoofed.text).toBe(200);
      expect(decodeJwt(spoofed.json().access_token).cnf).toEqual({
        'x5t#S256': thumbprintOf(is.clientIdentity),
      });
      expect(warn).toHaveBeenCalledWith(expect.anything(), expect.stringContaining('not the gateway'));

      // An internal certificate that is not the gateway's can neither forward nor be bound to.
      const internal = await is.pki.issueInternalClient('obkit-api-manager');
      const impostor = await token(internal, forwarded);
      expect(impostor.status).toBe(400);
      expect(impostor.json().error).toBe('invalid_grant');
    } finally {
      warn.mockRestore();
    }
  });

  it('answers invalid_client once the client is deleted, and its tokens stop working', async () => {
    const id = await insertCdrClient(is.db, { jwksUri: jwks.url });
    const first = await requestClientCredentialsToken(is, { clientId: id, keys, scope: 'cdr:registration' });
    expect(first.status).toBe(200);
    await is.db.query('DELETE FROM clients WHERE client_id = $1', [id]);
    const again = await requestClientCredentialsToken(is, { clientId: id, keys, scope: 'cdr:registration' });
    expect(again.status).toBe(401);
    expect(again.json().error).toBe('invalid_client');
    const response = await callProtected(first.json().access_token);
    expect(response.status).toBe(401);
    expect(response.json().error).toBe('invalid_client');
  });

  it('answers an authorisation request for an unknown client with a JSON error (no redirect)', async () => {
    const response = await is.request('/oauth2/authorize?client_id=x&response_type=code');
    expect(response.status).toBe(400);
    expect(response.json().error).toBe('invalid_client');
  });
});
