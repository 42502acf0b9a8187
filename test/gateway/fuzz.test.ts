import { Readable } from 'node:stream';
import { type Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedCertificate } from '../../lib/pki/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import { fuzzService, MALFORMED_HTTP, reportLine, sendRaw } from '../support/fuzz.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  type EchoBackend,
  issueClient,
  keyManagerEntry,
  managementUrlOf,
  snapshotOf,
  startEchoBackend,
  startGateway,
  startKeyManager,
  type TestKeyManager,
  type TestState,
} from '../support/gateway.ts';

const LIMIT = 64 * 1024;
const CONTEXT = '/open-banking/0.2';

let state: TestState;
let backend: EchoBackend;
let keyManager: TestKeyManager;
let gateway: Gateway;
let recipient: IssuedCertificate;
let client: Agent;
let token: string;

beforeAll(async () => {
  state = await createTestState();
  backend = await startEchoBackend(state);
  keyManager = await startKeyManager(state);
  recipient = await issueClient(state.issuing, 'adr-fuzz');
  client = clientOf(recipient, state.caBundle);
  gateway = await startGateway(state, { maxRequestBytes: LIMIT });
  await gateway.setSnapshot(
    snapshotOf({
      apis: [
        apiEntry('CDRDynamicClientRegistrationAPI', CONTEXT, `${backend.url}/dcr`, [
          { target: '/register', verb: 'POST', auth: 'None' },
          ...['GET', 'PUT', 'DELETE'].map((verb) => ({
            target: '/register/{ClientId}',
            verb,
            scopes: ['cdr:registration'],
          })),
        ]),
      ],
      keyManagers: [keyManagerEntry(keyManager)],
    }),
  );
  token = await keyManager.token('fuzz-client', recipient.certificatePem);
});
afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await keyManager?.close();
  await backend?.close();
  await state?.cleanup();
});

describe('gateway under hostile input', () => {
  it('answers every generated request without a 5xx, with a JSON OAuth error, and stays healthy', async () => {
    const report = await fuzzService({
      url: gateway.url,
      dispatchers: [client, clientOf(undefined, state.caBundle)],
      routes: [
        `POST ${CONTEXT}/register`,
        `GET ${CONTEXT}/register/:id`,
        `PUT ${CONTEXT}/register/:id`,
        `DELETE ${CONTEXT}/register/:id`,
        `GET ${CONTEXT}/:other`,
        'GET /:unknown/:path',
      ],
      ids: ['fuzz-client', 'other-client'],
      credentials: [`Bearer ${token}`],
      bodyLimit: LIMIT,
      shapeOf: () => 'oauth',
    });
    console.log(reportLine('gateway', report));
    expect(report.serverErrors).toEqual([]);
    expect((await call(client, `${managementUrlOf(gateway)}/health/ready`)).status).toBe(200);
    const read = await call(client, `${gateway.url}${CONTEXT}/register/fuzz-client`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.status).toBe(200);
  });

  it('answers an oversized chunked body with a 413 JSON instead of resetting the connection', async () => {
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const response = await request(`${gateway.url}${CONTEXT}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: Readable.from(Array.from({ length: (LIMIT / chunk.length) * 4 }, () => chunk)),
      dispatcher: client,
    });
    expect(response.statusCode).toBe(413);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(await response.body.json()).toMatchObject({ error: 'invalid_request' });
    // The connection was not cut mid-way: the next request is answered normally.
    expect((await call(client, `${managementUrlOf(gateway)}/health/live`)).status).toBe(200);
  });

  it('answers HTTP its parser refuses with a JSON 4xx', async () => {
    const identity = { cert: recipient.certificatePem, key: recipient.keyPem };
    for (const payload of MALFORMED_HTTP) {
      const answer = await sendRaw(gateway.url, state.caBundle, payload, identity);
      expect(answer.status, JSON.stringify(payload.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.contentType).toMatch(/^application\/json/);
    }
    expect((await call(client, `${managementUrlOf(gateway)}/health/ready`)).status).toBe(200);
  });
});
