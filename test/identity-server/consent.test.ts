import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import {
  authorizePath,
  consentOverHttp,
  jarmResponse,
  pushAuthorizationRequest,
  REDIRECT_URI,
  requestObject,
} from '../support/authorization.ts';
import { browserAvailability, launchBrowser } from '../support/browser.ts';
import {
  insertCdrClient,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

/** The sandbox consent pages: login with the one-time code, choose accounts, approve or deny. */
let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let clientId: string;

beforeAll(async () => {
  is = await startIdentityServer();
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, {
    jwksUri: jwks.url,
    scope: 'openid bank:accounts.basic:read bank:transactions:read',
    metadata: { client_name: 'Budget Buddy' },
  });
});

afterAll(async () => {
  await jwks?.close();
  await is?.close();
});

/** A pushed request for `claims`; returns the authorisation URL path and the request's state. */
async function pushed(claims: Record<string, unknown> = {}) {
  const { jwt, verifier } = await requestObject({ clientId, keys, audience: is.issuer, claims });
  const response = await pushAuthorizationRequest(is, { clientId, keys, request: jwt });
  expect(response.status, response.text).toBe(201);
  return { path: authorizePath(clientId, response.json().request_uri), verifier };
}

describe('consent over HTTP', () => {
  it('approval answers the recipient with a signed code (JARM) and records the arrangement', async () => {
    const { path } = await pushed({ state: 'state-approve' });
    const redirect = await consentOverHttp(is, path, {
      customer: 'sandbox-customer-jane',
      accounts: ['acc-jane-everyday'],
      approve: true,
    });
    expect(`${redirect.origin}${redirect.pathname}`).toBe(REDIRECT_URI);
    const response = await jarmResponse(is, redirect, clientId);
    expect(response).toMatchObject({ state: 'state-approve', iss: is.issuer });
    expect(response.code).toEqual(expect.any(String));
    const { rows } = await is.db.query(
      `SELECT customer_id, account_ids, sharing_duration, status FROM cdr_arrangements WHERE client_id = $1`,
      [clientId],
    );
    expect(rows).toContainEqual({
      customer_id: 'sandbox-customer-jane',
      account_ids: ['acc-jane-everyday'],
      sharing_duration: 3600,
      status: 'active',
    });
  });

  it('a denial answers access_denied and records nothing', async () => {
    const before = await is.db.query('SELECT count(*)::int AS n FROM cdr_arrangements');
    const { path } = await pushed({ state: 'state-deny' });
    const redirect = await consentOverHttp(is, path, {
      customer: 'sandbox-customer-omar',
      accounts: [],
      approve: false,
    });
    expect(await jarmResponse(is, redirect, clientId)).toMatchObject({
      error: 'access_denied',
      state: 'state-deny',
    });
    const after = await is.db.query('SELECT count(*)::int AS n FROM cdr_arrangements');
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });

  it('refuses a login with a wrong one-time code or an unknown customer', async () => {
    const { path } = await pushed();
    const started = await is.request(path);
    const consentPath = String(started.headers.location);
    const cookie = [started.headers['set-cookie'] ?? []]
      .flat()
      .map((line) => line.split(';')[0])
      .join('; ');
    for (const form of [
      { customer: 'sandbox-customer-jane', code: '000000x' },
      { customer: 'nobody', code: '123456' },
    ]) {
      const response = await is.request(`${consentPath}/login`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      expect(response.status).toBe(400);
      expect(response.text).toContain('role="alert"');
    }
  });

  it('a consent page outside its browser session is an error page, not a form', async () => {
    const { path } = await pushed();
    const started = await is.request(path);
    const page = await is.request(String(started.headers.location));
    expect(page.status).toBe(400);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('has expired or was not started in this browser');
    expect(page.text).not.toContain('<form');
  });
});

const browser = browserAvailability();

describe.skipIf(!browser.run)(`consent in headless chromium ${browser.reason}`, () => {
  let launched: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;

  beforeAll(async () => {
    launched = await launchBrowser(await readFile(is.pki.serverCertificate, 'utf8'));
    page = launched.context.pages()[0] ?? (await launched.context.newPage());
  });

  afterAll(async () => {
    await launched?.close();
  });

  /**
   * Where `act` sends the browser back to the recipient. The recipient is not running: the request is
   * observed as it leaves (its navigation then fails to resolve recipient.example).
   */
  const arrival = async (act: () => Promise<unknown>): Promise<URL> => {
    const leaving = page.waitForRequest((request) => request.url().startsWith(REDIRECT_URI));
    await act().catch(() => {});
    return new URL((await leaving).url());
  };

  /**
   * Each test on a new page with no cookies: the previous test's page may still be failing its navigation
   * to recipient.example, which would interrupt this test's first `goto`.
   */
  const freshPage = async () => {
    await page.close();
    page = await launched.context.newPage();
    await launched.context.clearCookies();
  };

  const start = async (claims: Record<string, unknown> = {}) => {
    await freshPage();
    const { path } = await pushed(claims);
    await page.goto(`${is.url}${path}`);
  };

  const logIn = async (customer: string) => {
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Log in to the sandbox bank',
    );
    await page.getByLabel(customer).check();
    const code = await page.getByTestId('one-time-code').textContent();
    await page.getByLabel('One-time code').fill(code ?? '');
    await page.getByRole('button', { name: 'Log in' }).click();
  };

  it('logs in, shows the data clusters and duration, and approves chosen accounts', async () => {
    await start({
      state: 'browser-approve',
      scope: 'openid bank:accounts.basic:read bank:transactions:read',
    });
    await logIn('Jane Wilson');
    await page.getByRole('heading', { name: 'Share data with Budget Buddy' }).waitFor();
    expect(await page.getByRole('heading', { level: 3 }).allTextContents()).toEqual([
      'Account name, type and balance',
      'Transaction details',
    ]);
    expect(await page.getByTestId('sharing-duration').textContent()).toBe('For 1 hour from today.');
    await page.getByLabel(/Bonus saver/).check();
    const arrived = await arrival(() => page.getByRole('button', { name: 'Approve' }).click());
    const response = await jarmResponse(is, arrived, clientId);
    expect(response).toMatchObject({ state: 'browser-approve' });
    expect(response.code).toEqual(expect.any(String));
    const { rows } = await is.db.query(
      `SELECT account_ids FROM cdr_arrangements WHERE client_id = $1 AND customer_id = 'sandbox-customer-jane'
        ORDER BY created_at DESC LIMIT 1`,
      [clientId],
    );
    expect(rows[0]?.account_ids).toEqual(['acc-jane-saver']);
  });

  it('asks again for an account when none is chosen, then denies', async () => {
    await start({ state: 'browser-deny' });
    await logIn('Omar Haddad');
    await page.getByRole('button', { name: 'Approve' }).click();
    expect(await page.getByRole('alert').textContent()).toBe('Choose at least one account to share.');
    const arrived = await arrival(() => page.getByRole('button', { name: 'Deny' }).click());
    expect(await jarmResponse(is, arrived, clientId)).toMatchObject({
      error: 'access_denied',
      state: 'browser-deny',
    });
  });

  it('shows the login again, with an alert, after a wrong one-time code', async () => {
    await start();
    await page.getByLabel('One-time code').fill('999999x');
    await page.getByRole('button', { name: 'Log in' }).click();
    expect(await page.getByRole('alert').textContent()).toMatch(/one-time code/);
  });

  it('sends an expired request back to the recipient with invalid_request_uri', async () => {
    await freshPage();
    const { path } = await pushed({ exp: Math.floor(Date.now() / 1000) + 2 });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const arrived = await arrival(() => page.goto(`${is.url}${path}`));
    expect(arrived.searchParams.get('error')).toBe('invalid_request_uri');
  });
});
