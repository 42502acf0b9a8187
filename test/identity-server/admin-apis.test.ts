import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedIdentityServer, send, startIdentityServer } from '../support/identity-server.ts';

let is: StartedIdentityServer;

beforeAll(async () => {
  is = await startIdentityServer();
});

afterAll(async () => {
  await is?.close();
});

const json = (authorization: string | undefined, method: string, body?: unknown) => ({
  method,
  headers: {
    ...(authorization ? { authorization } : {}),
    ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
  },
  ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
});

const wrongAdmin = `Basic ${Buffer.from('admin:not-the-password').toString('base64')}`;

describe('/keymanager-operations/dcr/register', () => {
  const path = '/keymanager-operations/dcr/register';

  it('creates, reads, updates and deletes an application, in WSO2 IS shapes', async () => {
    const created = await is.request(
      path,
      json(is.adminAuthorization, 'POST', {
        client_name: 'admin_DefaultApplication_PRODUCTION',
        grant_types: ['client_credentials', 'refresh_token', 'password'],
        redirect_uris: [],
        ext_param_owner: 'admin',
      }),
    );
    expect(created.status, created.text).toBe(201);
    const app = created.json();
    expect(app).toMatchObject({
      client_name: 'admin_DefaultApplication_PRODUCTION',
      grant_types: ['client_credentials', 'refresh_token', 'password'],
      ext_param_owner: 'admin',
      client_secret_expires_at: 0,
    });
    expect(app.client_id).toEqual(expect.any(String));
    expect(app.client_secret.length).toBeGreaterThanOrEqual(32);

    const read = await is.request(`${path}/${app.client_id}`, json(is.adminAuthorization, 'GET'));
    expect(read.status).toBe(200);
    expect(read.json()).toEqual(app);

    const updated = await is.request(
      `${path}/${app.client_id}`,
      json(is.adminAuthorization, 'PUT', {
        client_name: 'admin_DefaultApplication_PRODUCTION',
        grant_types: ['client_credentials'],
      }),
    );
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json()).toMatchObject({
      client_id: app.client_id,
      client_secret: app.client_secret,
      grant_types: ['client_credentials'],
    });

    const deleted = await is.request(`${path}/${app.client_id}`, json(is.adminAuthorization, 'DELETE'));
    expect(deleted.status).toBe(204);
    expect((await is.request(`${path}/${app.client_id}`, json(is.adminAuthorization, 'GET'))).status).toBe(
      404,
    );
  });

  it('lets an application get client_credentials tokens with client_secret_basic', async () => {
    const app = (
      await is.request(
        path,
        json(is.adminAuthorization, 'POST', {
          client_name: 'token-app',
          grant_types: ['client_credentials'],
        }),
      )
    ).json();
    const basic = (secret: string) => `Basic ${Buffer.from(`${app.client_id}:${secret}`).toString('base64')}`;
    const tokenRequest = (secret: string) =>
      is.request('/oauth2/token', {
        method: 'POST',
        headers: { authorization: basic(secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=openid',
        identity: null,
      });
    const ok = await tokenRequest(app.client_secret);
    expect(ok.status, ok.text).toBe(200);
    const claims = decodeJwt(ok.json().access_token);
    expect(claims).toMatchObject({ client_id: app.client_id, scope: 'openid' });
    expect(claims.cnf).toBeUndefined();

    const wrong = await tokenRequest('not-the-secret-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.json().error).toBe('invalid_client');

    await is.request(`${path}/${app.client_id}`, json(is.adminAuthorization, 'DELETE'));
    const gone = await tokenRequest(app.client_secret);
    expect(gone.status).toBe(401);
    expect(gone.json().error).toBe('invalid_client');
  });

  it('rejects a second application with the same name', async () => {
    const body = { client_name: 'twice', grant_types: ['client_credentials'] };
    expect((await is.request(path, json(is.adminAuthorization, 'POST', body))).status).toBe(201);
    const again = await is.request(path, json(is.adminAuthorization, 'POST', body));
    expect(again.status).toBe(400);
    expect(again.json().error).toBe('invalid_client_metadata');
  });

  it('requires a redirect URI for the authorization_code grant', async () => {
    const response = await is.request(
      path,
      json(is.adminAuthorization, 'POST', {
        client_name: 'no-callback',
        grant_types: ['authorization_code'],
      }),
    );
    expect(response.status).toBe(400);
    expect(response.json().error).toBe('invalid_redirect_uri');
  });

  it('requires the admin credential on every operation', async () => {
    for (const authorization of [undefined, wrongAdmin]) {
      for (const [method, url] of [
        ['POST', path],
        ['GET', `${path}/x`],
        ['PUT', `${path}/x`],
        ['DELETE', `${path}/x`],
      ] as const) {
        const response = await is.request(
          url,
          json(
            authorization,
            method,
            method === 'POST' || method === 'PUT' ? { client_name: 'x' } : undefined,
          ),
        );
        expect(response.status, `${method} ${url}`).toBe(401);
        expect(response.headers['www-authenticate']).toMatch(/^Basic /);
      }
    }
  });
});

describe('/api/identity/oauth2/v1.0/scopes', () => {
  const path = '/api/identity/oauth2/v1.0/scopes';

  it('lists the seeded CDR scopes', async () => {
    const response = await is.request(path, json(is.adminAuthorization, 'GET'));
    expect(response.status).toBe(200);
    const names = response.json().map((scope: { name: string }) => scope.name);
    expect(names).toEqual(expect.arrayContaining(['openid', 'cdr:registration', 'bank:accounts.basic:read']));
  });

  it('creates a scope, reads it by name, refuses a duplicate, and issues it in tokens', async () => {
    const scope = {
      name: 'apim:test_scope',
      displayName: 'Test scope',
      description: 'for tests',
      bindings: ['admin'],
    };
    const created = await is.request(path, json(is.adminAuthorization, 'POST', scope));
    expect(created.status, created.text).toBe(201);
    expect(created.json()).toEqual(scope);
    const read = await is.request(`${path}/name/apim:test_scope`, json(is.adminAuthorization, 'GET'));
    expect(read.status).toBe(200);
    expect(read.json()).toEqual(scope);
    const duplicate = await is.request(path, json(is.adminAuthorization, 'POST', scope));
    expect(duplicate.status).toBe(409);
    expect(duplicate.json()).toMatchObject({ code: 409 });
    const missing = await is.request(`${path}/name/nope`, json(is.adminAuthorization, 'GET'));
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ code: 404, message: 'Not Found' });

    // A new scope is grantable at once (the provider is rebuilt with it).
    const app = (
      await is.request(
        '/keymanager-operations/dcr/register',
        json(is.adminAuthorization, 'POST', {
          client_name: 'scope-app',
          grant_types: ['client_credentials'],
        }),
      )
    ).json();
    const token = await is.request('/oauth2/token', {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=apim:test_scope',
    });
    expect(token.status, token.text).toBe(200);
    expect(decodeJwt(token.json().access_token).scope).toBe('apim:test_scope');
  });

  it('rejects invalid scope names and requests without the admin credential', async () => {
    const bad = await is.request(
      path,
      json(is.adminAuthorization, 'POST', { name: 'has space', displayName: 'x' }),
    );
    expect(bad.status).toBe(400);
    for (const authorization of [undefined, wrongAdmin]) {
      expect((await is.request(path, json(authorization, 'GET'))).status).toBe(401);
      expect((await is.request(`${path}/name/openid`, json(authorization, 'GET'))).status).toBe(401);
      expect(
        (await is.request(path, json(authorization, 'POST', { name: 'x', displayName: 'x' }))).status,
      ).toBe(401);
    }
  });
});

describe('health and metrics', () => {
  const management = (path: string) => send(`${is.managementUrl}${path}`, is.agent(null));

  it('reports live, ready (database) and Prometheus metrics including OAuth endpoints on the management port', async () => {
    expect((await management('/health/live')).json()).toEqual({ status: 'UP' });
    const ready = await management('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'UP', checks: { database: 'UP' } });
    await is.request('/oauth2/jwks');
    const metrics = await management('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/obkit_oauth_requests_total\{[^}]*endpoint="jwks"[^}]*status="200"/);
    expect(metrics.text).toContain('obkit_http_requests_total');
  });

  it('serves neither health nor metrics on the public port', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const response = await is.request(path);
      expect(response.status, path).toBe(404);
      expect(response.text).not.toMatch(/UP|oauth_requests_total|nodejs_/);
    }
  });
});
