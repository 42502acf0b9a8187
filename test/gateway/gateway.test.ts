import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { generateKeyPair } from 'jose';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MediationStep, parseSynapseSequence } from '../../lib/gateway-feed/snapshot.ts';
import { CLIENT_CERTIFICATE_HEADER, decodeCertificateHeader } from '../../lib/http/forwarded-certificate.ts';
import type { IssuedCertificate } from '../../lib/pki/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
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
  thumbprintOf,
} from '../support/gateway.ts';

// WSO2's au-dcr-insequence-0.2.xml, with its sample credential, as the publisher would hand it over.
const DCR_SEQUENCE = `<sequence xmlns="http://ws.apache.org/ns/synapse" name="au-dcr-dynamic-endpoint-insequence-0.2">
    <header name="x-wso2-client-id" expression="get-property('api.ut.consumerKey')" scope="transport"/>
    <header name="Authorization" scope="transport" action="remove" />
    <header name="Authorization" value="Basic YWRtaW5Ad3NvMi5jb206d3NvMjEyMw==" scope="transport"/>
</sequence>`;

const VAULTED = 'Basic dmF1bHRlZDpzZWNyZXQ=';

const ORDERED_STEPS: MediationStep[] = parseSynapseSequence(`<sequence>
  <header name="x-trace" value="first" scope="transport"/>
  <header name="x-trace-copy" expression="$trp:x-trace" scope="transport"/>
  <header name="x-trace" value="second" scope="transport"/>
  <header name="x-echo" expression="$trp:X-From-Client" scope="transport"/>
  <header name="x-user" expression="get-property('api.ut.userName')" scope="transport"/>
  <header name="x-literal" expression="'quoted literal'" scope="transport"/>
  <property name="X-Via-Property" value="from-property" scope="transport"/>
  <header name="x-drop-me" scope="transport" action="remove"/>
</sequence>`);

let state: TestState;
let backend: EchoBackend;
let keyManager: TestKeyManager;
let gateway: Gateway;
let recipient: IssuedCertificate;
let otherRecipient: IssuedCertificate;
let client: Agent;
let otherClient: Agent;
let base: string;

beforeAll(async () => {
  state = await createTestState();
  backend = await startEchoBackend(state, { slowMs: 3000, bigBytes: 8192 });
  keyManager = await startKeyManager(state);
  recipient = await issueClient(state.issuing, 'adr-one');
  otherRecipient = await issueClient(state.issuing, 'adr-two');
  client = clientOf(recipient, state.caBundle);
  otherClient = clientOf(otherRecipient, state.caBundle);
  const dcrSteps = parseSynapseSequence(DCR_SEQUENCE);
  const dcr = apiEntry(
    'CDRDynamicClientRegistrationAPI',
    '/open-banking/0.2',
    `${backend.url}/api/openbanking/dynamic-client-registration`,
    [
      { target: '/register', verb: 'POST', auth: 'None', request: dcrSteps },
      ...['GET', 'PUT', 'DELETE'].map((verb) => ({
        target: '/register/{ClientId}',
        verb,
        scopes: ['cdr:registration'],
        request: dcrSteps,
      })),
    ],
  );
  const products = apiEntry('ProductsAPI', '/cds-au/v1/banking', `${backend.url}/products-backend`, [
    {
      target: '/products',
      verb: 'GET',
      request: ORDERED_STEPS,
      response: parseSynapseSequence(
        '<sequence><header name="x-backend" scope="transport" action="remove"/><header name="x-gateway" value="obkit" scope="transport"/></sequence>',
      ),
    },
    { target: '/limited', verb: 'GET' },
    { target: '/slow', verb: 'GET', auth: 'None' },
    { target: '/big', verb: 'GET', auth: 'None' },
  ]);
  const vaulted = apiEntry('VaultAPI', '/vault/v1', `${backend.url}/vault-backend`, [
    {
      target: '/known',
      verb: 'GET',
      auth: 'None',
      request: parseSynapseSequence(
        `<header name="Authorization" expression="wso2:vault-lookup('test.backend.authorization')" scope="transport"/>`,
      ),
    },
    {
      target: '/unknown',
      verb: 'GET',
      auth: 'None',
      request: parseSynapseSequence(
        `<header name="Authorization" expression="wso2:vault-lookup('no.such.alias')" scope="transport"/>`,
      ),
    },
  ]);
  await mkdir(state.config().obkit.vault_dir, { recursive: true });
  await writeFile(join(state.config().obkit.vault_dir, 'test.backend.authorization'), `${VAULTED}\n`);
  const down = apiEntry('DownAPI', '/down/v1', 'https://localhost:1/nothing', [
    {
      target: '/thing',
      verb: 'GET',
      auth: 'None',
      fault: parseSynapseSequence('<header name="x-fault" value="handled" scope="transport"/>'),
    },
  ]);
  gateway = await startGateway(state, {
    upstream: { headersTimeoutMs: 800, bodyTimeoutMs: 800, maxResponseBytes: 4096, connectTimeoutMs: 1000 },
  });
  await gateway.setSnapshot(
    snapshotOf({
      apis: [dcr, products, vaulted, down],
      keyManagers: [
        keyManagerEntry(keyManager),
        keyManagerEntry(
          { issuer: `${keyManager.url}/resident`, jwksUri: keyManager.jwksUri },
          {
            name: 'Resident Key Manager',
            type: 'default',
            enabled: false,
            enableMapOAuthConsumerApps: false,
          },
        ),
        keyManagerEntry(
          { issuer: `${keyManager.url}/no-audience`, jwksUri: keyManager.jwksUri },
          {
            name: 'Audience-less KM',
          },
        ),
        keyManagerEntry(
          {
            issuer: `${keyManager.url}/reference`,
            jwksUri: keyManager.jwksUri,
            audience: keyManager.audience,
          },
          {
            name: 'Reference KM',
            jwksUri: null,
            introspectionEndpoint: keyManager.introspectionEndpoint,
            tokenValidation: [{ type: 'REFERENCE', enable: true }],
            enableSelfValidationJWT: false,
          },
        ),
      ],
      applications: [
        {
          applicationId: 'app-1',
          name: 'Subscribed app',
          owner: 'admin',
          keys: [{ keyManager: 'OBKM', consumerKey: 'subscribed-client', keyType: 'PRODUCTION' }],
          subscriptions: [
            { subscriptionId: 's-1', apiId: products.apiId, throttlingPolicy: 'Bronze', status: 'UNBLOCKED' },
          ],
        },
        {
          applicationId: 'app-2',
          name: 'Unlimited app',
          owner: 'admin',
          keys: [{ keyManager: 'OBKM', consumerKey: 'unlimited-client', keyType: 'PRODUCTION' }],
          subscriptions: [
            {
              subscriptionId: 's-2',
              apiId: products.apiId,
              throttlingPolicy: 'Unlimited',
              status: 'UNBLOCKED',
            },
          ],
        },
      ],
    }),
  );
  base = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
  await client?.close();
  await otherClient?.close();
  await backend?.close();
  await keyManager?.close();
  await state?.cleanup();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('routing', () => {
  it('answers 404 JSON for an unknown path and for an unknown vhost', async () => {
    const unknownPath = await call(client, `${base}/open-banking/0.2/nothing-here`);
    expect(unknownPath.status).toBe(404);
    expect(unknownPath.body.error).toBe('not_found');
    // Same server, reached under a name that is not a vhost of any deployment.
    const unknownHost = await call(client, `https://127.0.0.1:${gateway.port}/open-banking/0.2/register`, {
      method: 'POST',
    });
    expect(unknownHost.status).toBe(404);
  });

  it('answers 405 with Allow for a known resource and another verb', async () => {
    const response = await call(client, `${base}/open-banking/0.2/register/abc`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, PUT, DELETE');
    expect(response.body.error).toBe('method_not_allowed');
  });

  it('refuses dot segments, plain or encoded, so no backend path outside the API is reachable', async () => {
    const token = await keyManager.token('..', recipient.certificatePem);
    for (const path of [
      '/open-banking/0.2/register/..',
      '/open-banking/0.2/register/%2E%2e',
      '/open-banking/0.2/./register',
    ]) {
      // Sent as written: a URL parser would have resolved the dots before they left the client.
      const response = await client.request({ origin: base, path, method: 'GET', headers: bearer(token) });
      const body = (await response.body.json()) as { error: string };
      expect(response.statusCode, path).toBe(400);
      expect(body.error).toBe('invalid_request');
    }
  });

  it('maps context + resource onto the endpoint path, keeping the query string', async () => {
    const token = await keyManager.token('client-a', recipient.certificatePem);
    const response = await call(client, `${base}/open-banking/0.2/register/client-a?x=1`, {
      headers: bearer(token),
    });
    expect(response.status).toBe(200);
    expect(backend.last().url).toBe('/api/openbanking/dynamic-client-registration/register/client-a?x=1');
  });
});

describe('unsecured and secured operations', () => {
  it('lets a None operation through without a token and runs the DCR in-sequence', async () => {
    const response = await call(client, `${base}/open-banking/0.2/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt', 'x-wso2-client-id': 'someone-else' },
      body: 'eyJ.request.jwt',
    });
    expect(response.status).toBe(200);
    const seen = backend.last();
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('eyJ.request.jwt');
    expect(seen.headers.authorization).toBe('Basic YWRtaW5Ad3NvMi5jb206d3NvMjEyMw==');
    // No token, so no consumer key: the client's own x-wso2-client-id must not survive.
    expect(seen.headers['x-wso2-client-id']).toBeUndefined();
    expect(seen.peerSubject).toContain('CN=obkit-gateway');
  });

  it('accepts a body sent with Expect: 100-continue, as curl does for large bodies', async () => {
    const jwt = `eyJ.${'a'.repeat(4000)}.sig`;
    // undici will not send Expect, so this client is Node's, waiting for 100 Continue like curl.
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${base}/open-banking/0.2/register`, {
        method: 'POST',
        ca: state.caBundle,
        cert: recipient.certificatePem,
        key: recipient.keyPem,
        headers: { 'content-type': 'application/jwt', expect: '100-continue', 'content-length': jwt.length },
      });
      req.on('continue', () => req.end(jwt));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    expect(status).toBe(200);
    expect(backend.last().body).toBe(jwt);
  });

  it('requires a token on an OAuth2 operation', async () => {
    const response = await call(client, `${base}/open-banking/0.2/register/client-a`);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_token');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  });

  it('accepts a certificate-bound token and sets the consumer key and admin credential upstream', async () => {
    const token = await keyManager.token('client-a', recipient.certificatePem);
    const response = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      method: 'PUT',
      headers: { ...bearer(token), 'content-type': 'application/jwt' },
      body: 'eyJ.update',
    });
    expect(response.status).toBe(200);
    const seen = backend.last();
    expect(seen.headers['x-wso2-client-id']).toBe('client-a');
    expect(seen.headers.authorization).toBe('Basic YWRtaW5Ad3NvMi5jb206d3NvMjEyMw==');
    expect(seen.body).toBe('eyJ.update');
  });

  it.each([
    [
      'an expired token',
      () => keyManager.token('client-a', recipient.certificatePem, {}, { expiresIn: -60 }),
    ],
    [
      'a token not valid yet',
      () =>
        keyManager.token(
          'client-a',
          recipient.certificatePem,
          {},
          { notBefore: Math.floor(Date.now() / 1000) + 300 },
        ),
    ],
    [
      'a token with a wrong signature',
      async () =>
        keyManager.token(
          'client-a',
          recipient.certificatePem,
          {},
          { key: (await generateKeyPair('PS256')).privateKey },
        ),
    ],
    [
      'a token of an unknown issuer',
      () =>
        keyManager.token(
          'client-a',
          recipient.certificatePem,
          {},
          { issuer: 'https://evil.example/oauth2/token' },
        ),
    ],
    [
      'a token of the disabled resident key manager',
      () =>
        keyManager.token('client-a', recipient.certificatePem, {}, { issuer: `${keyManager.url}/resident` }),
    ],
    [
      'a token bound to another certificate',
      () => keyManager.token('client-a', otherRecipient.certificatePem),
    ],
    ['a token bound to no certificate', () => keyManager.token('client-a', null)],
    ['a token that is not a JWT', async () => 'opaque-reference-token'],
  ])('refuses %s with 401 invalid_token', async (_name, makeToken) => {
    const response = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer(await makeToken()),
    });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_token');
  });

  it('accepts an at+jwt access token signed ES256 as well as PS256', async () => {
    const es256 = await keyManager.publish('ES256');
    const token = await keyManager.token('client-a', recipient.certificatePem, {}, es256);
    const status = async () =>
      (await call(client, `${base}/open-banking/0.2/register/client-a`, { headers: bearer(token) })).status;
    // The gateway refetches the key set for the new kid once its 5 s cool-down allows.
    await expect.poll(status, { timeout: 10_000, interval: 250 }).toBe(200);
  });

  it.each([
    ['without typ', () => keyManager.token('client-a', recipient.certificatePem, {}, { typ: null }), /typ/],
    [
      'typed JWT rather than at+jwt (e.g. an ID token)',
      () => keyManager.token('client-a', recipient.certificatePem, {}, { typ: 'JWT' }),
      /typ/,
    ],
    [
      'for another audience',
      () =>
        keyManager.token('client-a', recipient.certificatePem, { aud: 'https://another-resource.example' }),
      /aud/,
    ],
    ['without aud', () => keyManager.token('client-a', recipient.certificatePem, { aud: undefined }), /aud/],
    [
      'of a key manager that names no audience',
      () =>
        keyManager.token(
          'client-a',
          recipient.certificatePem,
          {},
          { issuer: `${keyManager.url}/no-audience` },
        ),
      /names no audience/,
    ],
    [
      'signed RS256 with a key the key manager publishes',
      async () =>
        keyManager.token('client-a', recipient.certificatePem, {}, await keyManager.publish('RS256')),
      /PS256 or ES256/,
    ],
    [
      'signed HS256',
      () =>
        keyManager.token('client-a', recipient.certificatePem, {}, { alg: 'HS256', key: randomBytes(32) }),
      /PS256 or ES256/,
    ],
    [
      'unsigned (alg none)',
      async () => unsecuredToken(await keyManager.token('client-a', recipient.certificatePem)),
      /PS256 or ES256/,
    ],
  ])('refuses an access token %s with 401 invalid_token', async (_name, makeToken, reason) => {
    const response = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer(await makeToken()),
    });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_token');
    expect(response.body.error_description).toMatch(reason);
  });

  it('refuses a token without the operation scope with 403 insufficient_scope', async () => {
    const token = await keyManager.token('client-a', recipient.certificatePem, {
      scope: 'openid bank:accounts',
    });
    const response = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer(token),
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('insufficient_scope');
  });

  it('refuses a DCR call for another client with 401 invalid_client', async () => {
    const token = await keyManager.token('client-a', recipient.certificatePem);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await call(client, `${base}/open-banking/0.2/register/client-b`, {
        method,
        headers: bearer(token),
      });
      expect(response.status).toBe(401);
      expect(response.body.error).toBe('invalid_client');
    }
  });

  it('refuses a client that is not subscribed to a non-regulatory API with 403', async () => {
    const token = await keyManager.token('client-a', recipient.certificatePem);
    const response = await call(client, `${base}/cds-au/v1/banking/limited`, { headers: bearer(token) });
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('access_denied');
  });

  it('enforces the subscription business plan with 429 and Retry-After', async () => {
    const token = await keyManager.token('subscribed-client', recipient.certificatePem);
    for (let i = 0; i < 3; i++) {
      const response = await call(client, `${base}/cds-au/v1/banking/limited`, { headers: bearer(token) });
      expect(response.status).toBe(200);
    }
    const limited = await call(client, `${base}/cds-au/v1/banking/limited`, { headers: bearer(token) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another application on the Unlimited plan is not affected.
    const unlimited = await keyManager.token('unlimited-client', recipient.certificatePem);
    const other = await call(client, `${base}/cds-au/v1/banking/limited`, { headers: bearer(unlimited) });
    expect(other.status).toBe(200);
  });
});

describe('key manager validation modes', () => {
  it('introspects opaque tokens at a key manager that validates by reference, over internal mTLS', async () => {
    keyManager.active.set('opaque-good', {
      client_id: 'client-a',
      aud: keyManager.audience,
      scope: 'cdr:registration',
      exp: Math.floor(Date.now() / 1000) + 600,
      cnf: { 'x5t#S256': thumbprintOf(recipient.certificatePem) },
    });
    const good = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer('opaque-good'),
    });
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    expect(backend.last().headers['x-wso2-client-id']).toBe('client-a');
    expect(keyManager.introspectionPeers.at(-1)).toContain('CN=obkit-gateway');
    const unknown = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer('opaque-unknown'),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_token');
  });

  it('refuses a token whose introspection names another audience', async () => {
    // A JWT of the reference key manager is introspected too (it does not self-validate).
    const token = await keyManager.token(
      'client-a',
      recipient.certificatePem,
      {},
      { issuer: `${keyManager.url}/reference` },
    );
    keyManager.active.set(token, {
      client_id: 'client-a',
      aud: 'https://another-resource.example',
      scope: 'cdr:registration',
      exp: Math.floor(Date.now() / 1000) + 600,
      cnf: { 'x5t#S256': thumbprintOf(recipient.certificatePem) },
    });
    const elsewhere = await call(client, `${base}/open-banking/0.2/register/client-a`, {
      headers: bearer(token),
    });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.error).toBe('invalid_token');
    expect(elsewhere.body.error_description).toMatch(/audience/);
  });

  it('refetches the JWKS when tokens arrive signed with a new key', async () => {
    await keyManager.rotate();
    const token = await keyManager.token('client-a', recipient.certificatePem);
    await expect
      .poll(
        async () => {
          const response = await call(client, `${base}/open-banking/0.2/register/client-a`, {
            headers: bearer(token),
          });
          return response.status === 200;
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBe(true);
  });
});

describe('forwarded client certificate', () => {
  it('never lets a spoofed certificate header reach the backend, in any case', async () => {
    const spoof = encodeURIComponent(otherRecipient.certificatePem);
    const response = await call(client, `${base}/open-banking/0.2/register`, {
      method: 'POST',
      headers: { 'X-WSO2-Mutual-Auth-Cert': spoof, 'content-type': 'application/jwt' },
      body: 'x',
    });
    expect(response.status).toBe(200);
    const seen = backend.last();
    const forwarded = decodeCertificateHeader(seen.headers[CLIENT_CERTIFICATE_HEADER]);
    expect(forwarded).toBeDefined();
    expect(thumbprintOf(forwarded!.toString())).toBe(thumbprintOf(recipient.certificatePem));
    expect(JSON.stringify(seen.headers)).not.toContain(spoof);
  });
});

describe('mediation', () => {
  it('runs request and response steps in order with their expressions', async () => {
    const token = await keyManager.token('unlimited-client', recipient.certificatePem, { sub: 'alice' });
    const response = await call(client, `${base}/cds-au/v1/banking/products`, {
      headers: { ...bearer(token), 'x-from-client': 'hello', 'x-drop-me': 'secret', 'x-trace': 'client' },
    });
    expect(response.status).toBe(200);
    const seen = backend.last().headers;
    expect(seen['x-trace-copy']).toBe('first');
    expect(seen['x-trace']).toBe('second');
    expect(seen['x-echo']).toBe('hello');
    expect(seen['x-user']).toBe('alice');
    expect(seen['x-literal']).toBe('quoted literal');
    expect(seen['x-via-property']).toBe('from-property');
    expect(seen['x-drop-me']).toBeUndefined();
    // The bearer token is the gateway's business; it is not relayed.
    expect(seen.authorization).toBeUndefined();
    expect(response.headers['x-backend']).toBeUndefined();
    expect(response.headers['x-gateway']).toBe('obkit');
  });
});

describe('secure vault lookups', () => {
  it("sends the value of wso2:vault-lookup('<alias>') from the gateway's vault directory", async () => {
    const response = await call(client, `${base}/vault/v1/known`);
    expect(response.status).toBe(200);
    // One trailing newline (as kubectl and editors leave it) is not part of the value.
    expect(backend.last().headers.authorization).toBe(VAULTED);
    // The snapshot the gateway keeps on disk names the alias only.
    const onDisk = await readFile(join(state.dir, 'gateway', 'snapshot.json'), 'utf8');
    expect(onDisk).toContain("wso2:vault-lookup('test.backend.authorization')");
    expect(onDisk).not.toContain(VAULTED);
  });

  it('answers 500 without detail, and sends nothing, when the vault lacks the alias', async () => {
    const before = backend.recorded.length;
    const response = await call(client, `${base}/vault/v1/unknown`);
    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      error: 'server_error',
      error_description: 'the gateway could not complete the request mediation',
    });
    expect(backend.recorded.length).toBe(before);
  });
});

describe('upstream failures', () => {
  it('answers 502 JSON when the backend is unreachable, after running the fault steps', async () => {
    const response = await call(client, `${base}/down/v1/thing`);
    expect(response.status).toBe(502);
    expect(response.body.error).toBe('bad_gateway');
    expect(response.headers['x-fault']).toBe('handled');
  });

  it('answers 504 JSON when the backend is too slow', async () => {
    const started = Date.now();
    const response = await call(client, `${base}/cds-au/v1/banking/slow`);
    expect(response.status).toBe(504);
    expect(response.body.error).toBe('gateway_timeout');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('answers 502 when the backend response exceeds the size limit', async () => {
    const response = await call(client, `${base}/cds-au/v1/banking/big`);
    expect(response.status).toBe(502);
  });
});

describe('observability', () => {
  it('counts API requests in /metrics on the management port', async () => {
    const response = await call(client, `${managementUrlOf(gateway)}/metrics`);
    expect(response.status).toBe(200);
    expect(response.body).toMatch(
      /obkit_gateway_requests_total\{api="CDRDynamicClientRegistrationAPI",status="200"/,
    );
  });

  it('never answers /metrics or /health on the public port, even to a trusted recipient', async () => {
    for (const path of ['/metrics', '/health/live', '/health/ready']) {
      const response = await call(client, `${base}${path}`);
      expect(response.status, path).toBe(404);
      expect(JSON.stringify(response.body)).not.toMatch(/gateway_requests_total|nodejs_|"UP"/);
    }
  });
});

/** The same claims with `alg: none` and no signature (RFC 7519 §6), as an attacker would send them. */
function unsecuredToken(jwt: string): string {
  const [header, payload] = jwt.split('.') as [string, string];
  const unsigned = { ...JSON.parse(Buffer.from(header, 'base64url').toString()), alg: 'none' };
  return `${Buffer.from(JSON.stringify(unsigned)).toString('base64url')}.${payload}.`;
}
