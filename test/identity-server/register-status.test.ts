import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_TYPE, requestObject } from '../support/authorization.ts';
import { type DcrHarness, REGISTRATION_PATH, startHarness } from '../support/dcr.ts';
import { clientAssertion } from '../support/identity-server.ts';
import type { SeededProduct } from '../support/register.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * Register metadata sync: the identity server polls the sandbox Register's status lists and refuses
 * PAR, tokens and registration management for a product or data recipient that is not ACTIVE there,
 * until it is ACTIVE again. Polls are forced with `refresh()` (the interval is an hour), so nothing waits
 * on a timer.
 */
let register: TestRegister;
let dcr: DcrHarness;
let registerClosed = false;

beforeAll(async () => {
  register = await startMockRegister();
  dcr = await startHarness({
    register,
    overrides: { obkit: { register_status: { url: register.url, interval_seconds: 3600 } } },
  });
});

afterAll(async () => {
  await dcr?.close();
  if (!registerClosed) await register?.close();
});

const refresh = () => dcr.server.server.dependencies.registerStatus.refresh();
const ADR_STATUS_NOT_ACTIVE = 'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive';

async function par(clientId: string, product: SeededProduct) {
  const { jwt } = await requestObject({ clientId, keys: product.recipient, audience: dcr.issuer });
  const form = new URLSearchParams({
    client_id: clientId,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await clientAssertion(product.recipient, clientId, dcr.issuer),
    request: jwt,
  });
  return dcr.call('POST', '/oauth2/par', {
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
  });
}

describe('the sandbox Register publishes statuses', () => {
  it('lists data recipients by legal entity and software products, with their statuses', async () => {
    const { product } = await dcr.registered();
    const get = async (path: string) => {
      const response = await fetchJson(`${register.url}/cdr-register/v1/banking/data-recipients${path}`);
      return response;
    };
    const legalEntityId = product.product.metadata.legal_entity_id;
    expect((await get('/status')).dataRecipients).toContainEqual({ legalEntityId, status: 'ACTIVE' });
    await register.client.setSoftwareProductStatus(product.softwareProductId, {
      dataRecipientStatus: 'SUSPENDED',
    });
    expect((await get('/status')).dataRecipients).toContainEqual({ legalEntityId, status: 'SUSPENDED' });
    await register.client.setSoftwareProductStatus(product.softwareProductId, { status: 'INACTIVE' });
    expect((await get('/brands/software-products/status')).softwareProducts).toContainEqual({
      softwareProductId: product.softwareProductId,
      status: 'INACTIVE',
    });
  });
});

describe('the identity server follows the Register', () => {
  it('refuses PAR, tokens and registration management for an inactive product until it is active again', async () => {
    const { product, client } = await dcr.registered();
    const clientId = client.client_id as string;
    const token = await dcr.accessToken(clientId, product);
    expect((await par(clientId, product)).status).toBe(201);

    await register.client.setSoftwareProductStatus(product.softwareProductId, { status: 'INACTIVE' });
    await refresh();
    const refusedPar = await par(clientId, product);
    expect(refusedPar.status, refusedPar.text).toBe(403);
    expect(refusedPar.body.errors).toMatchObject([{ code: ADR_STATUS_NOT_ACTIVE }]);
    const refusedToken = await dcr.tokenRequest(clientId, product);
    expect(refusedToken.status, refusedToken.text).toBe(403);
    expect(refusedToken.body.errors).toMatchObject([{ code: ADR_STATUS_NOT_ACTIVE }]);
    const refusedRead = await dcr.call('GET', `${REGISTRATION_PATH}/${clientId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(refusedRead.status).toBe(403);
    expect(refusedRead.body.errors).toMatchObject([{ code: ADR_STATUS_NOT_ACTIVE }]);

    await register.client.setSoftwareProductStatus(product.softwareProductId, { status: 'ACTIVE' });
    await refresh();
    expect((await par(clientId, product)).status).toBe(201);
    expect((await dcr.tokenRequest(clientId, product)).status).toBe(200);
    const read = await dcr.call('GET', `${REGISTRATION_PATH}/${clientId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
  });

  it('refuses a suspended data recipient, and leaves the other recipients alone', async () => {
    const suspended = await dcr.registered();
    const other = await dcr.registered();
    await register.client.setSoftwareProductStatus(suspended.product.softwareProductId, {
      dataRecipientStatus: 'SUSPENDED',
    });
    await refresh();
    const refused = await dcr.tokenRequest(suspended.client.client_id as string, suspended.product);
    expect(refused.status).toBe(403);
    expect(refused.body.errors).toMatchObject([
      { detail: expect.stringMatching(/data recipient is SUSPENDED/) },
    ]);
    expect((await dcr.tokenRequest(other.client.client_id as string, other.product)).status).toBe(200);
    expect((await par(other.client.client_id as string, other.product)).status).toBe(201);
  });

  // Last: it stops the Register.
  it('keeps the last statuses when the Register cannot be reached', async () => {
    const { product, client } = await dcr.registered();
    await register.client.setSoftwareProductStatus(product.softwareProductId, { status: 'REMOVED' });
    await refresh();
    await register.close();
    registerClosed = true;
    await refresh();
    const refused = await dcr.tokenRequest(client.client_id as string, product);
    expect(refused.status).toBe(403);
    expect(refused.body.errors).toMatchObject([
      { detail: expect.stringMatching(/software product is REMOVED/) },
    ]);
  });
});

async function fetchJson(url: string) {
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connect: { ca: register.caPem } });
  try {
    return (await (await request(url, { dispatcher })).body.json()) as Record<string, unknown[]>;
  } finally {
    await dispatcher.close();
  }
}
