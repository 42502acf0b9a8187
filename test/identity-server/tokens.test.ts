import { X509Certificate } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { authorizeBearer } from '../../services/identity-server/oauth/access-tokens.ts';
import {
  authorizePath,
  consentOverHttp,
  exchangeCode,
  jarmResponse,
  pushAuthorizationRequest,
  requestObject,
  tokenRequest,
} from '../support/authorization.ts';
import {
  type ClientIdentity,
  clientAssertion,
  insertCdrClient,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

/** Tokens of the CDR authorisation-code flow, over real mutual TLS with real keys. */
let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let clientId: string;
let otherSectorClient: string;
let otherIdentity: ClientIdentity;

beforeAll(async () => {
  is = await startIdentityServer({
    routes: (app, deps) => {
      app.get('/test/accounts', async (request) => {
        const claims = await authorizeBearer(request, deps, 'bank:accounts.basic:read');
        return { client_id: claims.client_id };
      });
    },
  });
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, { jwksUri: jwks.url });
  otherSectorClient = await insertCdrClient(is.db, {
    jwksUri: jwks.url,
    metadata: { redirect_uris: ['https://other-sector.example/callback'] },
  });
  otherIdentity = await is.pki.issueClient();
});

afterAll(async () => {
  await jwks?.close();
  await is?.close();
});

/** PAR → consent (Jane, her everyday account) → the code; `claims` adjust the request object. */
async function authorise(claims: Record<string, unknown> = {}, client = clientId) {
  const { jwt, verifier } = await requestObject({ clientId: client, keys, audience: is.issuer, claims });
  const pushed = await pushAuthorizationRequest(is, { clientId: client, keys, request: jwt });
  expect(pushed.status, pushed.text).toBe(201);
  const redirect = await consentOverHttp(is, authorizePath(client, pushed.json().request_uri), {
    customer: 'sandbox-customer-jane',
    accounts: ['acc-jane-everyday'],
    approve: true,
  });
  const { code } = await jarmResponse(is, redirect, client);
  return { code: String(code), verifier, redirectUri: String(claims.redirect_uri ?? '') || undefined };
}

const thumbprintOf = (pem: string) => certificateThumbprint(new X509Certificate(pem));

describe('authorisation code → tokens', () => {
  it('issues a certificate-bound access token, a refresh token, a PS256 ID token with a pairwise sub, and the arrangement id', async () => {
    const { code, verifier } = await authorise();
    const response = await exchangeCode(is, { clientId, keys }, code, verifier);
    expect(response.status, response.text).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ token_type: 'Bearer', cdr_arrangement_id: expect.any(String) });
    expect(body.refresh_token).toEqual(expect.any(String));

    const access = decodeJwt(body.access_token);
    expect(access).toMatchObject({
      client_id: clientId,
      cdr_arrangement_id: body.cdr_arrangement_id,
      cnf: { 'x5t#S256': thumbprintOf(is.clientIdentity.certificatePem) },
    });
    expect(String(access.scope).split(' ')).toContain('bank:accounts.basic:read');

    expect(decodeProtectedHeader(body.id_token).alg).toBe('PS256');
    const keySet = createLocalJWKSet((await is.request('/oauth2/jwks')).json());
    const { payload: idToken } = await jwtVerify(body.id_token, keySet, {
      issuer: is.issuer,
      audience: clientId,
    });
    expect(idToken.sub).not.toBe('sandbox-customer-jane');

    // The same customer: the same sub for this sector, another one for another sector.
    const again = await authorise();
    const second = decodeJwt(
      (await exchangeCode(is, { clientId, keys }, again.code, again.verifier)).json().id_token,
    );
    expect(second.sub).toBe(idToken.sub);
    const elsewhere = await authorise(
      { redirect_uri: 'https://other-sector.example/callback' },
      otherSectorClient,
    );
    const other = await exchangeCode(
      is,
      { clientId: otherSectorClient, keys },
      elsewhere.code,
      elsewhere.verifier,
      'https://other-sector.example/callback',
    );
    expect(other.status, other.text).toBe(200);
    expect(decodeJwt(other.json().id_token).sub).not.toBe(idToken.sub);
  });

  it('accepts the access token only with the certificate it was issued to', async () => {
    const { code, verifier } = await authorise();
    const accessToken = (await exchangeCode(is, { clientId, keys }, code, verifier)).json().access_token;
    const own = await is.request('/test/accounts', { headers: { authorization: `Bearer ${accessToken}` } });
    expect(own.status, own.text).toBe(200);
    const other = await is.request('/test/accounts', {
      headers: { authorization: `Bearer ${accessToken}` },
      identity: otherIdentity,
    });
    expect(other.status).toBe(401);
    expect(other.json().error_description).toMatch(/not bound to the presented client certificate/);
  });

  it('refuses a code without its PKCE verifier, with a wrong one, at another redirect URI, or twice', async () => {
    const { code, verifier } = await authorise();
    const missing = await exchangeCode(is, { clientId, keys }, code, undefined);
    expect(missing.status).toBe(400);
    expect(missing.json().error).toMatch(/^invalid_(grant|request)$/);

    const second = await authorise();
    const wrong = await exchangeCode(is, { clientId, keys }, second.code, `${second.verifier}x`);
    expect(wrong.status).toBe(400);
    expect(wrong.json().error).toBe('invalid_grant');

    const third = await authorise();
    const elsewhere = await exchangeCode(
      is,
      { clientId, keys },
      third.code,
      third.verifier,
      'https://recipient.example/other',
    );
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.json().error).toBe('invalid_grant');

    const fourth = await authorise();
    expect((await exchangeCode(is, { clientId, keys }, fourth.code, fourth.verifier)).status).toBe(200);
    const replay = await exchangeCode(is, { clientId, keys }, fourth.code, fourth.verifier);
    expect(replay.status).toBe(400);
    expect(replay.json().error).toBe('invalid_grant');
    void verifier;
  });

  it('gives no refresh token for a one-off consent', async () => {
    const { code, verifier } = await authorise({ sharing_duration: 0 });
    const body = (await exchangeCode(is, { clientId, keys }, code, verifier)).json();
    expect(body.access_token).toEqual(expect.any(String));
    expect(body.refresh_token).toBeUndefined();
    expect(body.cdr_arrangement_id).toEqual(expect.any(String));
  });

  it('refreshes, introspects and revokes refresh tokens; the refresh token ends with the sharing period', async () => {
    const { code, verifier } = await authorise({ sharing_duration: 7200 });
    const first = (await exchangeCode(is, { clientId, keys }, code, verifier)).json();

    const introspected = await tokenRequest(
      is,
      { clientId, keys },
      { token: first.refresh_token },
      '/oauth2/introspect',
    );
    expect(introspected.status, introspected.text).toBe(200);
    const refreshClaims = introspected.json();
    expect(refreshClaims).toMatchObject({ active: true, client_id: clientId });
    const remaining = refreshClaims.exp - Math.floor(Date.now() / 1000);
    expect(remaining).toBeGreaterThan(7000);
    expect(remaining).toBeLessThanOrEqual(7200);

    const refreshed = await tokenRequest(
      is,
      { clientId, keys },
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
    );
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.json().cdr_arrangement_id).toBe(first.cdr_arrangement_id);
    expect(decodeJwt(refreshed.json().access_token).cdr_arrangement_id).toBe(first.cdr_arrangement_id);

    const revoked = await tokenRequest(
      is,
      { clientId, keys },
      { token: first.refresh_token },
      '/oauth2/revoke',
    );
    expect(revoked.status, revoked.text).toBe(200);
    expect(
      (
        await tokenRequest(is, { clientId, keys }, { token: first.refresh_token }, '/oauth2/introspect')
      ).json(),
    ).toEqual({ active: false });
    const after = await tokenRequest(
      is,
      { clientId, keys },
      { grant_type: 'refresh_token', refresh_token: first.refresh_token },
    );
    expect(after.status).toBe(400);
    expect(after.json().error).toBe('invalid_grant');
  });

  it('amending an arrangement through cdr_arrangement_id keeps its id and replaces the old grant', async () => {
    const { code, verifier } = await authorise();
    const original = (await exchangeCode(is, { clientId, keys }, code, verifier)).json();
    const amended = await authorise({
      cdr_arrangement_id: original.cdr_arrangement_id,
      scope: 'openid bank:accounts.basic:read',
    });
    const replaced = (await exchangeCode(is, { clientId, keys }, amended.code, amended.verifier)).json();
    expect(replaced.cdr_arrangement_id).toBe(original.cdr_arrangement_id);
    const stale = await tokenRequest(
      is,
      { clientId, keys },
      { grant_type: 'refresh_token', refresh_token: original.refresh_token },
    );
    expect(stale.status).toBe(400);
    expect(stale.json().error).toBe('invalid_grant');
    const { rows } = await is.db.query(
      'SELECT count(*)::int AS n FROM cdr_arrangements WHERE arrangement_id = $1',
      [original.cdr_arrangement_id],
    );
    expect(rows[0]?.n).toBe(1);
  });
});

describe('arrangement revocation by the recipient', () => {
  const revokeArrangement = async (
    arrangementJwt: string | undefined,
    signer: RecipientKeys = keys,
    client = clientId,
  ) =>
    is.request('/arrangements/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: client,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await clientAssertion(signer, client, is.issuer),
        ...(arrangementJwt !== undefined ? { cdr_arrangement_jwt: arrangementJwt } : {}),
      }).toString(),
    });
  const arrangementJwt = (arrangementId: string, signer: RecipientKeys = keys) =>
    new SignJWT({ cdr_arrangement_id: arrangementId })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid })
      .setIssuedAt()
      .sign(signer.privateKey);

  it('ends the arrangement: its access and refresh tokens are refused, and it cannot be revoked again', async () => {
    const { code, verifier } = await authorise();
    const tokens = (await exchangeCode(is, { clientId, keys }, code, verifier)).json();
    const call = () =>
      is.request('/test/accounts', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect((await call()).status).toBe(200);

    const revoked = await revokeArrangement(await arrangementJwt(tokens.cdr_arrangement_id));
    expect(revoked.status, revoked.text).toBe(204);

    const refused = await call();
    expect(refused.status).toBe(401);
    expect(refused.json().error_description).toMatch(/revoked/);
    const refresh = await tokenRequest(
      is,
      { clientId, keys },
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
    );
    expect(refresh.json().error).toBe('invalid_grant');
    const { rows } = await is.db.query(
      `SELECT claim, value FROM revocations WHERE claim = 'cdr_arrangement_id' AND value = $1`,
      [tokens.cdr_arrangement_id],
    );
    expect(rows).toHaveLength(1);

    const again = await revokeArrangement(await arrangementJwt(tokens.cdr_arrangement_id));
    expect(again.status).toBe(422);
    expect(again.json().errors[0].code).toBe('urn:au-cds:error:cds-all:Authorisation/InvalidArrangement');
  });

  it('refuses an unsigned or foreign-signed arrangement JWT, another client’s arrangement and no client authentication', async () => {
    const { code, verifier } = await authorise();
    const { cdr_arrangement_id: arrangementId } = (
      await exchangeCode(is, { clientId, keys }, code, verifier)
    ).json();
    const unsigned = new UnsecuredJWT({ cdr_arrangement_id: arrangementId }).encode();
    expect((await revokeArrangement(unsigned)).status).toBe(400);
    const stranger = await createRecipientKeys();
    expect(
      (await revokeArrangement(await arrangementJwt(arrangementId, { ...stranger, kid: keys.kid }))).status,
    ).toBe(400);
    const foreign = await revokeArrangement(await arrangementJwt(arrangementId), keys, otherSectorClient);
    expect(foreign.status).toBe(422);
    const anonymous = await is.request('/arrangements/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ cdr_arrangement_jwt: await arrangementJwt(arrangementId) }).toString(),
    });
    expect(anonymous.status).toBe(401);
    const { rows } = await is.db.query('SELECT status FROM cdr_arrangements WHERE arrangement_id = $1', [
      arrangementId,
    ]);
    expect(rows[0]?.status).toBe('active');
  });
});
