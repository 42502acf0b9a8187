import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import { loadConfig } from '../../lib/config/index.ts';
import { REVOCATIONS_PATH } from '../../lib/gateway-feed/revocations.ts';
import { type Banking, createBanking } from '../../services/banking/server.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import { createGateway } from '../../services/gateway/server.ts';
import {
  authorizePath,
  consentOverHttp,
  exchangeCode,
  jarmResponse,
  pushAuthorizationRequest,
  requestObject,
} from '../support/authorization.ts';
import { gatewayConfig } from '../support/dcr-gateway.ts';
import { apiEntry, call, keyManagerEntry, snapshotOf } from '../support/gateway.ts';
import {
  clientAssertion,
  insertCdrClient,
  type StartedIdentityServer,
  startIdentityServer,
  startJwksServer,
} from '../support/identity-server.ts';

/**
 * The sandbox CDS Banking API behind a real gateway and identity server, over real mutual TLS: tokens
 * from the consent journey, arrangements read over the banking service's internal certificate.
 */
let is: StartedIdentityServer;
let keys: RecipientKeys;
let jwks: Awaited<ReturnType<typeof startJwksServer>>;
let clientId: string;
let banking: Banking;
let gateway: Gateway;
let gatewayDir: string;
/** The sandbox recipient's transport certificate, the one its tokens are bound to (closed with `is`). */
let recipient: Agent;

const ACCOUNTS = '/cds-au/v1/banking/accounts';

beforeAll(async () => {
  is = await startIdentityServer();
  keys = await createRecipientKeys();
  jwks = await startJwksServer(is.pki, keys.jwks);
  clientId = await insertCdrClient(is.db, {
    jwksUri: jwks.url,
    scope: 'openid bank:accounts.basic:read bank:transactions:read',
  });
  banking = await createBanking(
    loadConfig({
      env: {},
      overrides: {
        obkit: {
          state_dir: is.stateDir,
          log_level: 'silent',
          banking: { port: 0 },
          identity_server: { url: is.url },
          tls: {
            certificate: is.pki.serverCertificate,
            private_key: is.pki.serverKey,
            internal_ca: is.pki.internalCaCertificate,
            banking_client_certificate: is.pki.bankingInternalCertificate,
            banking_client_key: is.pki.bankingInternalKey,
            outbound_ca: is.pki.caBundle,
          },
        },
      },
    }),
  );
  gatewayDir = await mkdtemp(join(tmpdir(), 'obkit-banking-gw-'));
  gateway = await createGateway(gatewayConfig(is.pki.dir, gatewayDir), { feed: 'manual' });
  await gateway.setSnapshot(
    snapshotOf({
      apis: [
        apiEntry('CDSBankingAPI', '/cds-au/v1', `${banking.url}/cds-au/v1`, [
          { target: '/banking/accounts', verb: 'GET', scopes: ['bank:accounts.basic:read'] },
          {
            target: '/banking/accounts/{accountId}/balance',
            verb: 'GET',
            scopes: ['bank:accounts.basic:read'],
          },
        ]),
      ],
      keyManagers: [
        keyManagerEntry(
          { issuer: is.issuer, jwksUri: `${is.url}/oauth2/jwks`, audience: is.url },
          { revocationFeed: `${is.url}${REVOCATIONS_PATH}` },
        ),
      ],
      regulatoryApis: ['CDRDynamicClientRegistrationAPI', 'CDSBankingAPI'],
    }),
  );
  recipient = is.agent(is.clientIdentity);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await banking?.close();
  await jwks?.close();
  await is?.close();
  if (gatewayDir) await rm(gatewayDir, { recursive: true, force: true });
});

/** PAR → consent as Jane with `accounts` → tokens. */
async function consentTo(accounts: string[], scope = 'openid bank:accounts.basic:read') {
  const { jwt, verifier } = await requestObject({ clientId, keys, audience: is.issuer, claims: { scope } });
  const pushed = await pushAuthorizationRequest(is, { clientId, keys, request: jwt });
  expect(pushed.status, pushed.text).toBe(201);
  const redirect = await consentOverHttp(is, authorizePath(clientId, pushed.json().request_uri), {
    customer: 'sandbox-customer-jane',
    accounts,
    approve: true,
  });
  const { code } = await jarmResponse(is, redirect, clientId);
  const tokens = await exchangeCode(is, { clientId, keys }, String(code), verifier);
  expect(tokens.status, tokens.text).toBe(200);
  return tokens.json() as { access_token: string; cdr_arrangement_id: string };
}

const throughGateway = (
  path: string,
  token: string,
  headers: Record<string, string> = {},
  agent = recipient,
) =>
  call(agent, `${gateway.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, 'x-v': '2', ...headers },
  });

describe('CDS Banking through the gateway', () => {
  it('lists only the accounts of the arrangement, as Get Accounts v2, with the interaction id echoed', async () => {
    const tokens = await consentTo(['acc-jane-everyday', 'acc-jane-card']);
    const interactionId = randomUUID();
    const response = await throughGateway(ACCOUNTS, tokens.access_token, {
      'x-fapi-interaction-id': interactionId,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.headers['x-v']).toBe('2');
    expect(response.headers['x-fapi-interaction-id']).toBe(interactionId);
    expect(response.body.data.accounts.map((account: { accountId: string }) => account.accountId)).toEqual([
      'acc-jane-everyday',
      'acc-jane-card',
    ]);
    expect(response.body.data.accounts[0]).toMatchObject({
      displayName: 'Everyday account',
      productCategory: 'TRANS_AND_SAVINGS_ACCOUNTS',
      maskedNumber: 'xxxx xxxx xxxx 1234',
      openStatus: 'OPEN',
      isOwned: true,
    });
    expect(response.body.meta).toEqual({ totalRecords: 2, totalPages: 1 });
    expect(response.body.links.self).toContain(ACCOUNTS);

    const filtered = await throughGateway(
      `${ACCOUNTS}?product-category=CRED_AND_CHRG_CARDS`,
      tokens.access_token,
    );
    expect(filtered.body.data.accounts.map((account: { accountId: string }) => account.accountId)).toEqual([
      'acc-jane-card',
    ]);
    const generated = await throughGateway(ACCOUNTS, tokens.access_token);
    expect(generated.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers the balance of a covered account, and 404 InvalidBankingAccount for any other', async () => {
    const tokens = await consentTo(['acc-jane-everyday']);
    const balance = await throughGateway(`${ACCOUNTS}/acc-jane-everyday/balance`, tokens.access_token, {
      'x-v': '1',
    });
    expect(balance.status, JSON.stringify(balance.body)).toBe(200);
    expect(balance.headers['x-v']).toBe('1');
    expect(balance.body.data).toEqual({
      accountId: 'acc-jane-everyday',
      currentBalance: '1523.45',
      availableBalance: '1500.00',
      currency: 'AUD',
    });
    for (const other of ['acc-jane-saver', 'acc-omar-everyday', 'no-such-account']) {
      const refused = await throughGateway(`${ACCOUNTS}/${other}/balance`, tokens.access_token, {
        'x-v': '1',
      });
      expect(refused.status, other).toBe(404);
      expect(refused.body.errors[0].code).toBe(
        'urn:au-cds:error:cds-banking:Authorisation/InvalidBankingAccount',
      );
    }
  });

  it('negotiates x-v and x-min-v, refusing what it cannot serve with the CDS header errors', async () => {
    const tokens = await consentTo(['acc-jane-everyday']);
    const ask = (headers: Record<string, string>) => throughGateway(ACCOUNTS, tokens.access_token, headers);
    expect((await ask({ 'x-v': '5', 'x-min-v': '1' })).headers['x-v']).toBe('2');
    expect((await ask({ 'x-v': '3', 'x-min-v': '7' })).status).toBe(406);
    const unsupported = await ask({ 'x-v': '1' });
    expect(unsupported.status).toBe(406);
    expect(unsupported.body.errors[0].code).toBe('urn:au-cds:error:cds-all:Header/UnsupportedVersion');
    const invalid = await ask({ 'x-v': 'two' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors[0].code).toBe('urn:au-cds:error:cds-all:Header/InvalidVersion');
    const missing = await call(recipient, `${gateway.url}${ACCOUNTS}`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].code).toBe('urn:au-cds:error:cds-all:Header/Missing');
    const badInteraction = await ask({ 'x-fapi-interaction-id': 'not-a-uuid' });
    expect(badInteraction.status).toBe(400);
    expect(badInteraction.body.errors[0].code).toBe('urn:au-cds:error:cds-all:Header/Invalid');
    const page = await ask({ 'x-v': '2' });
    expect(page.status).toBe(200);
    expect((await throughGateway(`${ACCOUNTS}?page=2`, tokens.access_token)).status).toBe(422);
    expect((await throughGateway(`${ACCOUNTS}?page-size=1001`, tokens.access_token)).status).toBe(400);
  });

  it('ignores an arrangement header a recipient sends: the gateway sets the token’s own', async () => {
    const mine = await consentTo(['acc-jane-everyday']);
    const other = await consentTo(['acc-jane-saver']);
    const response = await throughGateway(ACCOUNTS, mine.access_token, {
      'x-cdr-arrangement-id': other.cdr_arrangement_id,
    });
    expect(response.status).toBe(200);
    expect(response.body.data.accounts.map((account: { accountId: string }) => account.accountId)).toEqual([
      'acc-jane-everyday',
    ]);
  });

  it('refuses callers other than the gateway, whatever arrangement header they send', async () => {
    const tokens = await consentTo(['acc-jane-everyday']);
    const headers = { 'x-v': '2', 'x-cdr-arrangement-id': tokens.cdr_arrangement_id };
    const internalImpostor = await is.pki.issueInternalClient('obkit-banking');
    for (const identity of [is.clientIdentity, null, internalImpostor]) {
      const direct = await call(is.agent(identity), `${banking.url}${ACCOUNTS}`, { headers });
      expect(direct.status).toBe(401);
      expect(direct.body.errors[0].code).toBe('urn:au-cds:error:cds-all:Authorisation/Unauthorized');
    }
  });

  it('refuses the internal arrangement endpoint to every certificate but the banking service’s', async () => {
    const tokens = await consentTo(['acc-jane-everyday']);
    const path = `/internal/arrangements/${tokens.cdr_arrangement_id}`;
    const bankingIdentity = {
      certificatePem: await readFile(is.pki.bankingInternalCertificate, 'utf8'),
      keyPem: await readFile(is.pki.bankingInternalKey, 'utf8'),
    };
    const allowed = await is.request(path, { identity: bankingIdentity });
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.json()).toMatchObject({
      customer_id: 'sandbox-customer-jane',
      account_ids: ['acc-jane-everyday'],
    });
    const impostor = await is.pki.issueClient('obkit-banking');
    for (const identity of [is.clientIdentity, is.gatewayIdentity, impostor, null]) {
      expect((await is.request(path, { identity })).status).toBe(403);
    }
  });

  it('answers 401 at the gateway once the arrangement is revoked', async () => {
    const tokens = await consentTo(['acc-jane-everyday']);
    expect((await throughGateway(ACCOUNTS, tokens.access_token)).status).toBe(200);
    const revoked = await is.request('/arrangements/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await clientAssertion(keys, clientId, is.issuer),
        cdr_arrangement_jwt: await new SignJWT({ cdr_arrangement_id: tokens.cdr_arrangement_id })
          .setProtectedHeader({ alg: keys.alg, kid: keys.kid })
          .setIssuedAt()
          .sign(keys.privateKey),
      }).toString(),
    });
    expect(revoked.status, revoked.text).toBe(204);
    await expect
      .poll(async () => (await throughGateway(ACCOUNTS, tokens.access_token)).status, { timeout: 15_000 })
      .toBe(401);
  });

  it('refuses a token without bank:accounts.basic:read at the gateway', async () => {
    const tokens = await consentTo(['acc-jane-everyday'], 'openid bank:transactions:read');
    expect((await throughGateway(ACCOUNTS, tokens.access_token)).status).toBe(403);
  });
});
