import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';

let apim: RunningApiManager;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  apim = await startApiManager();
});
afterAll(async () => {
  await apim?.stop();
});

describe('management authentication as WSO2', () => {
  it('registers a management client idempotently per clientName', async () => {
    const body = {
      clientName: 'scripts',
      owner: 'admin',
      grantType: 'client_credentials password',
      saasApp: true,
    };
    const headers = { authorization: basic('admin', 'test-admin-password') };
    const first = await apim.call('POST', '/client-registration/v0.17/register', { headers, json: body });
    const second = await apim.call('POST', '/client-registration/v0.17/register', { headers, json: body });
    expect(first.status).toBe(200);
    expect(first.body.clientId).toBeTruthy();
    expect(second.body.clientId).toBe(first.body.clientId);
    expect(second.body.clientSecret).toBe(first.body.clientSecret);
  });

  it('refuses client registration without the admin credential', async () => {
    const json = { clientName: 'intruder' };
    const wrong = await apim.call('POST', '/client-registration/v0.17/register', {
      headers: { authorization: basic('admin', 'wrong') },
      json,
    });
    const none = await apim.call('POST', '/client-registration/v0.17/register', { json });
    expect(wrong.status).toBe(401);
    expect(none.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 401 });
  });

  it('issues password and client_credentials tokens with the requested apim scopes', async () => {
    const registered = await apim.call('POST', '/client-registration/v0.17/register', {
      headers: { authorization: basic('admin', 'test-admin-password') },
      json: { clientName: 'grants', grantType: 'client_credentials password' },
    });
    const client = basic(registered.body.clientId, registered.body.clientSecret);
    const form = (fields: Record<string, string>) => ({
      headers: { authorization: client, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const password = await apim.call(
      'POST',
      '/oauth2/token',
      form({
        grant_type: 'password',
        username: 'admin',
        password: 'test-admin-password',
        scope: 'apim:api_view apim:admin',
      }),
    );
    expect(password.status).toBe(200);
    expect(password.body).toMatchObject({
      token_type: 'Bearer',
      scope: 'apim:api_view apim:admin',
      expires_in: 3600,
    });
    const credentials = await apim.call(
      'POST',
      '/oauth2/token',
      form({ grant_type: 'client_credentials', scope: 'apim:api_view' }),
    );
    expect(credentials.status).toBe(200);
    expect(credentials.body.scope).toBe('apim:api_view');

    const badUser = await apim.call(
      'POST',
      '/oauth2/token',
      form({ grant_type: 'password', username: 'admin', password: 'nope', scope: 'apim:api_view' }),
    );
    expect(badUser.status).toBe(400);
    expect(badUser.body.error).toBe('invalid_grant');
    const badClient = await apim.call('POST', '/oauth2/token', {
      headers: {
        authorization: basic(registered.body.clientId, 'wrong'),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(badClient.status).toBe(401);
    expect(badClient.body.error).toBe('invalid_client');
  });

  it('answers 401 without a valid token and 403 without the operation scope', async () => {
    expect((await apim.call('GET', '/api/am/publisher/v4/apis')).status).toBe(401);
    expect((await apim.call('GET', '/api/am/publisher/v4/apis', { token: 'not-a-token' })).status).toBe(401);
    const viewer = await apim.managementToken(['apim:api_view']);
    expect((await apim.call('GET', '/api/am/publisher/v4/apis', { token: viewer })).status).toBe(200);
    const forbidden = await apim.call('GET', '/api/am/admin/v4/key-managers', { token: viewer });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.description).toContain('apim:admin');
    const deleteApi = await apim.call('DELETE', '/api/am/publisher/v4/apis/some-id', { token: viewer });
    expect(deleteApi.status).toBe(403);
    const admin = await apim.managementToken(['apim:admin']);
    expect((await apim.call('GET', '/api/am/admin/v4/key-managers', { token: admin })).status).toBe(200);
  });

  it('publishes the resident key manager signing key', async () => {
    const jwks = await apim.call('GET', '/oauth2/jwks');
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256' });
    expect(jwks.body.keys[0].d).toBeUndefined();
  });
});
