import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../lib/cdr/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import { postgresTarget } from '../support/database.ts';
import type { DcrHarness } from '../support/dcr.ts';
import { DCR_CONTEXT, type ReplicaPair, startReplicaPair } from '../support/dcr-gateway.ts';
import { call } from '../support/gateway.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * Two identity-server replicas on one PostgreSQL schema, each behind its own gateway: the state that
 * must hold across replicas (one client per software_id, jti replay, revocation) is in the database,
 * not in a process.
 */

const postgres = await postgresTarget();
if (!postgres)
  console.log('replica tests skipped: set OBKIT_TEST_DATABASE_URL to a reachable PostgreSQL server');

let register: TestRegister;
let pair: ReplicaPair;
/** Replica A, with the harness's helpers (seeding products, request JWTs, tokens). */
let dcr: DcrHarness;
let urlB: string;
let gateways: Gateway[];
let recipient: Agent;
const schema = `identity_server_replicas_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  if (!postgres) return;
  register = await startMockRegister();
  pair = await startReplicaPair({ register, databaseUrl: postgres.url, schema });
  ({ dcr, urlB, gateways } = pair);
  recipient = new Agent({
    connect: { ca: register.caPem, cert: dcr.certificate.certificate, key: dcr.certificate.key },
  });
});
afterAll(async () => {
  await recipient?.close();
  await pair?.close();
  await register?.close();
  await postgres?.dropSchema(schema);
});

async function post(base: string, path: string, form: Record<string, string>) {
  const response = await request(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    dispatcher: recipient,
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

describe.skipIf(!postgres)('two identity servers and two gateways on one PostgreSQL server', () => {
  it('gives exactly one client for one software_id raced through both gateways and replicas', async () => {
    const product = await dcr.seed();
    const before = (await dcr.counts()).clients;
    const requests = await Promise.all(Array.from({ length: 10 }, () => dcr.requestFor(product)));
    const answers = await Promise.all(
      requests.map((jwt, index) =>
        call(recipient, `${gateways[index % 2]!.url}${DCR_CONTEXT}/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/jwt' },
          body: jwt,
        }),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.every((status) => status === 201 || (status >= 400 && status < 500))).toBe(true);
    expect((await dcr.counts()).clients).toBe(before + 1);
  });

  it('refuses on one replica a client assertion already used on the other', async () => {
    const { product, client } = await dcr.registered();
    const clientId = client.client_id as string;
    const assertion = await buildClientAssertion({
      clientId,
      audience: `${dcr.url}/oauth2/token`,
      key: product.recipient,
    });
    const form = {
      grant_type: 'client_credentials',
      scope: 'cdr:registration',
      client_id: clientId,
      ...clientAssertionFields(assertion),
    };
    expect((await post(dcr.url, '/oauth2/token', form)).status).toBe(200);
    const replayed = await post(urlB, '/oauth2/token', form);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toBe('invalid_client');
  });

  it('has a token revoked through one replica refused by both gateways within 5 s', async () => {
    const { product, client } = await dcr.registered();
    const clientId = client.client_id as string;
    const token = await dcr.accessToken(clientId, product);
    const read = (gateway: Gateway) =>
      call(recipient, `${gateway.url}${DCR_CONTEXT}/register/${clientId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    for (const gateway of gateways)
      await expect.poll(async () => (await read(gateway)).status, { timeout: 20_000 }).toBe(200);

    const assertion = await buildClientAssertion({
      clientId,
      audience: `${dcr.url}/oauth2/token`,
      key: product.recipient,
    });
    const revoked = await post(urlB, '/oauth2/revoke', {
      token,
      client_id: clientId,
      ...clientAssertionFields(assertion),
    });
    expect(revoked.status).toBe(200);
    const revokedAt = Date.now();
    const refusedAfter: number[] = [];
    for (const gateway of gateways) {
      await expect.poll(async () => (await read(gateway)).status, { timeout: 5000, interval: 50 }).toBe(401);
      refusedAfter.push(Date.now() - revokedAt);
    }
    console.log(
      `revocation through replica B refused by gateway 1 after ${refusedAfter[0]} ms, gateway 2 after ${refusedAfter[1]} ms`,
    );
  });
});
