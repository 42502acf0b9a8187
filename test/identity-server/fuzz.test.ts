import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorShapeOf } from '../../services/identity-server/server.ts';
import { type DcrHarness, REGISTRATION_PATH, startHarness } from '../support/dcr.ts';
import { fuzzService, MALFORMED_HTTP, reportLine, sendRaw } from '../support/fuzz.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

let register: TestRegister;
let dcr: DcrHarness;
let clientId: string;
let accessToken: string;

beforeAll(async () => {
  register = await startMockRegister();
  dcr = await startHarness({ register });
  const { product, client } = await dcr.registered();
  clientId = client.client_id as string;
  accessToken = await dcr.accessToken(clientId, product);
});
afterAll(async () => {
  await dcr?.close();
  await register?.close();
});

/** oidc-provider's endpoints under /oauth2 (Koa, outside fastify's route table), and paths near them. */
const OAUTH_ROUTES = [
  'POST /oauth2/token',
  'GET /oauth2/jwks',
  'POST /oauth2/introspect',
  'POST /oauth2/revoke',
  'GET /oauth2/userinfo',
  'POST /oauth2/userinfo',
  'GET /oauth2/token/.well-known/openid-configuration',
  'GET /oauth2/.well-known/openid-configuration',
  'GET /oauth2/authorize',
  'POST /oauth2/:unknown',
];

/** Readiness, asked where it is served: the management port (server certificate from the Register's PKI). */
async function readiness(): Promise<number> {
  const agent = new Agent({ connect: { ca: register.caPem } });
  try {
    const response = await request(`${dcr.server.managementUrl}/health/ready`, { dispatcher: agent });
    await response.body.dump();
    return response.statusCode;
  } finally {
    await agent.close();
  }
}

describe('identity-server under hostile input', () => {
  it('answers every generated request without a 5xx, with a JSON OAuth error, and stays healthy', async () => {
    const server = dcr.server;
    // The harness serves the Register's PKI: a recipient's connection, the gateway's (which may use the
    // admin credential) and one without a certificate.
    const agent = (identity?: { certificatePem: string; keyPem: string }) =>
      new Agent({
        connect: {
          ca: register.caPem,
          ...(identity ? { cert: identity.certificatePem, key: identity.keyPem } : {}),
        },
      });
    const dispatchers = [
      agent({ certificatePem: dcr.certificate.certificate, keyPem: dcr.certificate.key }),
      agent(server.gatewayIdentity),
      agent(),
    ];
    const report = await fuzzService({
      url: dcr.url,
      dispatchers,
      routes: [
        ...server.server.service.routes.filter((route) => !route.startsWith('HEAD ')),
        ...OAUTH_ROUTES,
      ],
      ids: [clientId],
      queryNames: ['client_id', 'token'],
      credentials: [`Bearer ${accessToken}`, server.adminAuthorization],
      headers: { 'x-wso2-client-id': [clientId, 'unknown', '%00'] },
      bodyLimit: 1_048_576,
      shapeOf: errorShapeOf,
    });
    console.log(reportLine('identity-server', report));
    await Promise.all(dispatchers.map((each) => each.close()));
    expect(report.serverErrors).toEqual([]);
    expect(await readiness()).toBe(200);
    expect(
      (
        await dcr.call('GET', `${REGISTRATION_PATH}/${clientId}`, {
          headers: { authorization: `Bearer ${accessToken}` },
        })
      ).status,
    ).toBe(200);
  });

  it.each([
    ['a wrong method on the token endpoint', 'GET', '/oauth2/token', 405, 'POST, OPTIONS'],
    [
      'a wrong method on the JWKS, any case and a trailing slash',
      'DELETE',
      '/oauth2/JWKS/',
      405,
      'GET, HEAD, OPTIONS',
    ],
    ['an unknown path under /oauth2', 'GET', '/oauth2/nowhere', 404, undefined],
    ['an unknown path under /oauth2 asking for HTML', 'POST', '/oauth2/x/y', 404, undefined],
  ])('answers %s with JSON', async (_case, method, path, status, allow) => {
    const answer = await dcr.call(method, path, { headers: { accept: 'text/html' } });
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.body.error).toBe(status === 405 ? 'method_not_allowed' : 'not_found');
    expect(answer.headers.allow).toBe(allow);
  });

  it('answers HTTP its parser refuses with a JSON 4xx', async () => {
    for (const payload of MALFORMED_HTTP) {
      const answer = await sendRaw(dcr.url, register.caPem, payload);
      expect(answer.status, JSON.stringify(payload.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.contentType).toMatch(/^application\/json/);
    }
    expect(await readiness()).toBe(200);
  });
});
