import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { CookieJar } from '../../lib/cdr/sandbox-consent.ts';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';
import { authorizeBearer } from '../../services/identity-server/oauth/access-tokens.ts';
import {
  authorizePath,
  consentOverHttp,
  exchangeCode,
  jarmResponse,
  pushAuthorizationRequest,
  requestObject,
} from '../support/authorization.ts';
import {
  insertCdrClient,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
  type TestResponse,
} from '../support/identity-server.ts';

/**
 * Customer-initiated revocation on the sandbox dashboard, over HTTP forms: login with the one-time
 * code, the customer's arrangements listed, one stopped — its tokens refused — and the recipient told
 * at its revocation_uri with a request it can verify with the Data Holder's JWKS.
 */
let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let recipient: Awaited<ReturnType<typeof startRevocationEndpoint>>;
let clientId: string;

beforeAll(async () => {
  is = await startIdentityServer({
    routes: (app, deps) => {
      app.get('/test/accounts', async (request) => {
        const claims = await authorizeBearer(request, deps, 'bank:accounts.basic:read');
        return { client_id: claims.client_id };
      });
    },
  });
  keys = await createRecipientKeys({ alg: 'PS256' });
  jwks = await startJwksServer(is.pki, keys.jwks);
  recipient = await startRevocationEndpoint(is);
  clientId = await insertCdrClient(is.db, {
    jwksUri: jwks.url,
    metadata: { client_name: 'Budget Buddy', revocation_uri: recipient.url },
  });
});

afterAll(async () => {
  await recipient?.close();
  await jwks?.close();
  await is?.close();
});

async function consentAs(customer: string, accounts: string[]) {
  const { jwt, verifier } = await requestObject({ clientId, keys, audience: is.issuer });
  const pushed = await pushAuthorizationRequest(is, { clientId, keys, request: jwt });
  const redirect = await consentOverHttp(is, authorizePath(clientId, pushed.json().request_uri), {
    customer,
    accounts,
    approve: true,
  });
  const { code } = await jarmResponse(is, redirect, clientId);
  return (await exchangeCode(is, { clientId, keys }, String(code), verifier)).json() as {
    access_token: string;
    cdr_arrangement_id: string;
  };
}

/** A browser on the dashboard: its own cookies, no client certificate needed. */
function browser() {
  const jar = new CookieJar();
  const go = async (path: string, form?: Record<string, string>) => {
    const response = await is.request(path, {
      ...(form
        ? {
            method: 'POST',
            body: new URLSearchParams(form).toString(),
            headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
          }
        : { headers: { cookie: jar.header() } }),
      identity: null,
    });
    jar.take(response.headers);
    return response;
  };
  return {
    go,
    async login(customer: string): Promise<TestResponse> {
      const page = await go('/consent/dashboard');
      const code = /data-testid="one-time-code">(\d{6})</.exec(page.text)?.[1] ?? '';
      const loggedIn = await go('/consent/dashboard/login', { customer, code });
      expect(loggedIn.status).toBe(303);
      return go('/consent/dashboard');
    },
  };
}

const csrfOf = (page: TestResponse) => /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';

describe('the sandbox customer dashboard', () => {
  it('lists the customer’s arrangements, stops one, ends its tokens and notifies the recipient verifiably', async () => {
    const tokens = await consentAs('sandbox-customer-jane', ['acc-jane-everyday']);
    const call = () =>
      is.request('/test/accounts', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect((await call()).status).toBe(200);

    const jane = browser();
    const dashboard = await jane.login('sandbox-customer-jane');
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain('Budget Buddy');
    expect(dashboard.text).toContain(tokens.cdr_arrangement_id);

    const revoked = await jane.go('/consent/dashboard/revoke', {
      arrangement_id: tokens.cdr_arrangement_id,
      csrf: csrfOf(dashboard),
    });
    expect(revoked.status, revoked.text).toBe(303);
    expect((await call()).status).toBe(401);
    expect((await jane.go('/consent/dashboard')).text).not.toContain(`value="${tokens.cdr_arrangement_id}"`);

    const notices = recipient.received();
    expect(notices).toHaveLength(1);
    const published = createLocalJWKSet((await is.request('/oauth2/jwks')).json());
    const notice = new URLSearchParams(notices[0]!.body).get('cdr_arrangement_jwt')!;
    const { payload, protectedHeader } = await jwtVerify(notice, published, {
      issuer: is.issuer,
      audience: recipient.url,
    });
    expect(protectedHeader.alg).toBe('PS256');
    expect(payload.cdr_arrangement_id).toBe(tokens.cdr_arrangement_id);
    const bearer = /^Bearer (.+)$/.exec(notices[0]!.authorization ?? '')?.[1] ?? '';
    const authentication = await jwtVerify(bearer, published, { issuer: is.issuer, audience: recipient.url });
    expect(authentication.payload.sub).toBe(is.issuer);
  });

  it('refuses without a session, with another session’s form token, and for another customer’s arrangement', async () => {
    const tokens = await consentAs('sandbox-customer-jane', ['acc-jane-saver']);
    await consentAs('sandbox-customer-omar', ['acc-omar-everyday']);
    const before = recipient.received().length;
    const stranger = browser();
    const anonymous = await stranger.go('/consent/dashboard/revoke', {
      arrangement_id: tokens.cdr_arrangement_id,
      csrf: 'x',
    });
    expect(anonymous.status).toBe(401);

    const omar = browser();
    const omarPage = await omar.login('sandbox-customer-omar');
    expect(omarPage.text).not.toContain(tokens.cdr_arrangement_id);
    const foreign = await omar.go('/consent/dashboard/revoke', {
      arrangement_id: tokens.cdr_arrangement_id,
      csrf: csrfOf(omarPage),
    });
    expect(foreign.status).toBe(404);

    const jane = browser();
    await jane.login('sandbox-customer-jane');
    const forged = await jane.go('/consent/dashboard/revoke', {
      arrangement_id: tokens.cdr_arrangement_id,
      csrf: csrfOf(omarPage),
    });
    expect(forged.status).toBe(403);

    const wrongCode = await browser().go('/consent/dashboard/login', {
      customer: 'sandbox-customer-jane',
      code: '000000',
    });
    expect(wrongCode.status).toBe(400);

    const { rows } = await is.db.query('SELECT status FROM cdr_arrangements WHERE arrangement_id = $1', [
      tokens.cdr_arrangement_id,
    ]);
    expect(rows[0]?.status).toBe('active');
    expect(recipient.received()).toHaveLength(before);
  });
});

/** A recipient's revocation endpoint over HTTPS (the sandbox CA), recording what it is sent. */
async function startRevocationEndpoint(server: StartedIdentityServer) {
  const received: { body: string; authorization: string | undefined }[] = [];
  const endpoint = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(server.pki.serverCertificate),
      key: await readFile(server.pki.serverKey),
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          authorization: req.headers.authorization,
        });
        res.writeHead(204).end();
      });
    },
  );
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const { port } = endpoint.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}/revoke`,
    received: () => [...received],
    close: () =>
      new Promise<void>((resolve) => {
        endpoint.closeAllConnections();
        endpoint.close(() => resolve());
      }),
  };
}
