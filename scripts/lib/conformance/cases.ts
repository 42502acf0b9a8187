import { randomUUID } from 'node:crypto';
import { type Answer, type Caller, describeAnswer, type Exchange, isAnswer } from './exchange.ts';
import {
  certificateThumbprint,
  claimsOf,
  clientAssertion,
  hmacSigned,
  newSigningKey,
  registrationRequest,
  rs256Signed,
  type SandboxRegister,
  type SigningKey,
  type SoftwareProduct,
  sign,
  type TransportCertificate,
  tampered,
  unsecured,
} from './recipient.ts';

/**
 * The DCR conformance cases: each one checks one rule of docs/dcr-rules.md (its id, e.g. `J5`) against
 * a Data Holder reached like a recipient reaches it — the gateway's DCR endpoint and the identity
 * server's token endpoint, over mutual TLS. What a conforming answer is, is written here as data, from
 * the rules, on purpose: nothing is imported from the identity server or its tests.
 */

export interface Certificate {
  name: string;
  pair: TransportCertificate;
}

export interface Conformance {
  caller: Caller;
  register: SandboxRegister;
  /** The gateway's DCR endpoint, e.g. https://localhost:8243/open-banking/0.2/register */
  registrationUrl: string;
  /** Discovery document URL of the identity server. */
  discoveryUrl: string;
  /** The identity server's issuer: the `aud` registration requests carry. */
  issuer: string;
  transport: Certificate;
  /** Certificates a recipient must not get through with (the untrusted one always; the others need the CA key). */
  untrusted: Certificate;
  expired?: Certificate;
  serverOnly?: Certificate;
  /** Another trusted transport certificate (token binding); needs the sandbox CA key. */
  otherTrusted?: Certificate;
  /** What earlier cases established, for the cases that build on them. */
  state: {
    tokenEndpoint?: string;
    first?: Registered;
    second?: Registered;
    /** Product A's keys and product (the first registration's). */
    /** Product A's two keys, and product B's. */
    keys?: { ps256: SigningKey; es256: SigningKey; b: SigningKey };
    products?: { a: SoftwareProduct; b: SoftwareProduct; c: SoftwareProduct; twoHosts: SoftwareProduct };
    /** Product C's registration (the replay case's proof). */
    third?: Registered;
  };
}

export interface Registered {
  product: SoftwareProduct;
  key: SigningKey;
  clientId: string;
  issuedAt: unknown;
  token?: string;
}

export class CaseFailed extends Error {}
export class CaseSkipped extends Error {}

export interface CaseContext {
  conformance: Conformance;
  exchanges: Exchange[];
  call: (options: Parameters<Caller['call']>[0]) => Promise<Answer | { refused: string }>;
}

export interface ConformanceCase {
  id: string;
  /** The rule's id and words in docs/dcr-rules.md. */
  rule: string;
  title: string;
  run(context: CaseContext): Promise<void>;
}

function expect(ok: boolean, detail: string): asserts ok {
  if (!ok) throw new CaseFailed(detail);
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new CaseSkipped(`needs ${what}, which an earlier case did not establish`);
  return value;
}

/** Expects an HTTP answer with this status (and `error`, when given). */
function expectError(answer: Answer | { refused: string }, status: number, error?: string): Answer {
  expect(
    isAnswer(answer) && answer.status === status && (error === undefined || answer.body.error === error),
    `expected HTTP ${status}${error ? ` ${error}` : ''}, got ${describeAnswer(answer)}`,
  );
  return answer;
}

/** A refused certificate: the handshake fails, or the answer is 401/403. Anything else let it through. */
function expectRefused(answer: Answer | { refused: string }): void {
  if (!isAnswer(answer)) {
    expect(
      !/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT/.test(answer.refused),
      `the Data Holder could not be reached at all: ${answer.refused}`,
    );
    return;
  }
  expect(answer.status === 401 || answer.status === 403, `expected a refusal, got ${describeAnswer(answer)}`);
}

function post(context: CaseContext, jwt: string, describe: string, certificate?: Certificate | null) {
  return context.call({
    method: 'POST',
    url: context.conformance.registrationUrl,
    certificate: certificate === undefined ? context.conformance.transport : certificate,
    headers: { 'content-type': 'application/jwt' },
    body: jwt,
    describe,
  });
}

function clientCall(
  context: CaseContext,
  method: 'GET' | 'PUT' | 'DELETE',
  clientId: string,
  token: string | undefined,
  options: { certificate?: Certificate; body?: string; describe?: string } = {},
) {
  return context.call({
    method,
    url: `${context.conformance.registrationUrl}/${encodeURIComponent(clientId)}`,
    certificate: options.certificate ?? context.conformance.transport,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/jwt' }),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
    describe: options.describe ?? (token === undefined ? 'no access token' : 'access token'),
  });
}

async function requestFor(
  context: CaseContext,
  product: SoftwareProduct,
  key: SigningKey,
  overrides: { claims?: Record<string, unknown>; header?: Record<string, unknown> } = {},
): Promise<string> {
  return registrationRequest({
    ssa: await product.ssa(),
    softwareId: product.softwareId,
    audience: context.conformance.issuer,
    key,
    ...overrides,
  });
}

async function token(
  context: CaseContext,
  registered: Registered,
  options: { scope?: string; certificate?: Certificate } = {},
): Promise<Answer | { refused: string }> {
  const endpoint = need(context.conformance.state.tokenEndpoint, 'the token endpoint from discovery');
  const assertion = await clientAssertion(registered.clientId, endpoint, registered.key);
  return context.call({
    method: 'POST',
    url: endpoint,
    certificate: options.certificate ?? context.conformance.transport,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: options.scope ?? 'cdr:registration',
      client_id: registered.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString(),
    describe: `client_credentials, scope ${options.scope ?? 'cdr:registration'}, private_key_jwt`,
  });
}

async function bearer(context: CaseContext, registered: Registered, scope?: string): Promise<string> {
  const answer = await token(context, registered, scope ? { scope } : {});
  expect(
    isAnswer(answer) && answer.status === 200 && typeof answer.body.access_token === 'string',
    `the token endpoint answered ${describeAnswer(answer)}`,
  );
  return (answer as Answer).body.access_token as string;
}

/** A rejected registration request: one per variation of a conforming request. */
function rejected(
  id: string,
  rule: string,
  title: string,
  status: number,
  error: string,
  build: (
    context: CaseContext,
    product: SoftwareProduct,
    keys: { ps256: SigningKey; es256: SigningKey },
  ) => Promise<string>,
): ConformanceCase {
  return {
    id,
    rule,
    title,
    async run(context) {
      const { products, keys } = context.conformance.state;
      const product = need(products, 'the software products').a;
      const jwt = await build(context, product, need(keys, 'the recipient keys'));
      expectError(await post(context, jwt, title), status, error);
    },
  };
}

const withClaims =
  (claims: Record<string, unknown>, header?: Record<string, unknown>) =>
  (context: CaseContext, product: SoftwareProduct, keys: { ps256: SigningKey }) =>
    requestFor(context, product, keys.ps256, { claims, ...(header ? { header } : {}) });

const REQUIRED_REQUEST_CLAIMS = [
  'iss',
  'aud',
  'iat',
  'exp',
  'jti',
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'grant_types',
  'response_types',
  'id_token_signed_response_alg',
] as const;

/** Claim values a Data Holder must refuse, each with its rule. */
const REFUSED_VALUES: [claim: string, value: unknown][] = [
  ['token_endpoint_auth_method', 'client_secret_basic'],
  ['token_endpoint_auth_signing_alg', 'RS256'],
  ['grant_types', ['client_credentials', 'implicit']],
  ['response_types', ['token']],
  ['id_token_signed_response_alg', 'none'],
  ['application_type', 'native'],
  ['request_object_signing_alg', 'HS256'],
  ['authorization_signed_response_alg', 'none'],
  ['authorization_encrypted_response_enc', 'A256GCM'],
  ['id_token_encrypted_response_alg', 'RSA1_5'],
];

export const CASES: readonly ConformanceCase[] = [
  {
    id: 'discovery',
    rule: 'E3 registration_endpoint in discovery',
    title: 'discovery names the issuer, the token endpoint and the registration endpoint',
    async run(context) {
      const answer = await context.call({
        method: 'GET',
        url: context.conformance.discoveryUrl,
        certificate: null,
        describe: 'OpenID discovery',
      });
      expect(isAnswer(answer) && answer.status === 200, `discovery answered ${describeAnswer(answer)}`);
      const { issuer, token_endpoint: tokenEndpoint, registration_endpoint: registration } = answer.body;
      expect(
        issuer === context.conformance.issuer,
        `issuer ${String(issuer)}, expected ${context.conformance.issuer}`,
      );
      expect(typeof tokenEndpoint === 'string', 'no token_endpoint');
      expect(typeof registration === 'string', 'no registration_endpoint');
      context.conformance.state.tokenEndpoint = tokenEndpoint;
    },
  },
  {
    id: 'setup',
    rule: 'setup (the sandbox Register)',
    title: 'the sandbox Register creates the software products and issues their SSAs',
    async run(context) {
      const { register, state } = context.conformance;
      const keys = {
        ps256: await newSigningKey('PS256'),
        es256: await newSigningKey('ES256'),
        b: await newSigningKey('PS256'),
      };
      state.keys = keys;
      state.products = {
        a: await register.createProduct({ keys: [keys.ps256, keys.es256] }),
        b: await register.createProduct({ keys: [keys.b] }),
        c: await register.createProduct({ keys: [keys.ps256] }),
        twoHosts: await register.createProduct({
          keys: [keys.ps256],
          redirectUris: (site) => [`${site}/callback`, 'https://elsewhere.recipient.obkit.example/callback'],
        }),
      };
    },
  },
  // Transport: mutual TLS before anything else.
  ...(
    [
      ['no-certificate', 'no client certificate', null],
      ['untrusted-certificate', 'a certificate from a CA outside the truststore', 'untrusted'],
      ['expired-certificate', 'an expired certificate from the trusted CA', 'expired'],
      ['server-certificate', 'a trusted certificate without the clientAuth usage', 'serverOnly'],
    ] as const
  ).map(
    ([id, what, which]): ConformanceCase => ({
      id: `mtls.${id}`,
      rule: 'T1 POST /register requires mutual TLS with a trusted, valid client certificate',
      title: `a registration over ${what} is refused`,
      async run(context) {
        const { conformance } = context;
        const certificate =
          which === null
            ? null
            : need(conformance[which], `${what} (the sandbox CA key; not available for this target)`);
        const product = need(conformance.state.products, 'the software products').a;
        const jwt = await requestFor(context, product, need(conformance.state.keys, 'the keys').ps256);
        expectRefused(await post(context, jwt, 'a conforming registration request', certificate));
      },
    }),
  ),
  {
    id: 'media-type',
    rule: 'E1 the body is application/jwt, else 415',
    title: 'a request JWT sent as application/json is refused with 415',
    async run(context) {
      const { products, keys } = context.conformance.state;
      const jwt = await requestFor(context, need(products, 'the products').a, need(keys, 'the keys').ps256);
      const answer = await context.call({
        method: 'POST',
        url: context.conformance.registrationUrl,
        certificate: context.conformance.transport,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jwt }),
        describe: 'the request JWT wrapped in JSON',
      });
      expectError(answer, 415);
    },
  },
  {
    id: 'method-not-allowed',
    rule: 'E2 other methods → 405',
    title: 'PATCH /register is refused with 405',
    async run(context) {
      const answer = await context.call({
        method: 'PATCH',
        url: context.conformance.registrationUrl,
        certificate: context.conformance.transport,
        describe: 'no body',
      });
      expectError(answer, 405);
    },
  },
  rejected(
    'alg.none',
    'J1 alg is PS256 or ES256',
    'an unsecured request (alg none) is refused',
    400,
    'invalid_client_metadata',
    async (context, product, keys) => unsecured(claimsOf(await requestFor(context, product, keys.ps256))),
  ),
  rejected(
    'alg.hs256',
    'J1 alg is PS256 or ES256',
    'a request signed HS256 keyed with the recipient’s public key (algorithm confusion) is refused',
    400,
    'invalid_client_metadata',
    async (context, product, keys) =>
      hmacSigned(claimsOf(await requestFor(context, product, keys.ps256)), keys.ps256),
  ),
  rejected(
    'alg.rs256',
    'J1 alg is PS256 or ES256',
    'a request signed RS256 with the recipient’s published RSA key is refused',
    400,
    'invalid_client_metadata',
    async (context, product, keys) =>
      rs256Signed(claimsOf(await requestFor(context, product, keys.ps256)), keys.ps256),
  ),
  rejected(
    'signature.tampered',
    'J2 the signature verifies with a key at the SSA jwks_uri',
    'a request whose signature does not verify is refused',
    400,
    'invalid_client_metadata',
    async (context, product, keys) => tampered(await requestFor(context, product, keys.ps256)),
  ),
  rejected(
    'signature.unknown-key',
    'J2 the signature verifies with a key at the SSA jwks_uri',
    'a request signed with a key not at the jwks_uri is refused',
    400,
    'invalid_client_metadata',
    async (context, product) => requestFor(context, product, await newSigningKey('PS256')),
  ),
  ...REQUIRED_REQUEST_CLAIMS.map((claim) =>
    rejected(
      `claims.missing-${claim}`,
      'J3 required request claims',
      `a request without ${claim} is refused`,
      400,
      'invalid_client_metadata',
      withClaims({ [claim]: undefined }),
    ),
  ),
  rejected(
    'iss.wrong',
    'J4 iss is the SSA software_id',
    'a request whose iss is not the software_id is refused',
    400,
    'invalid_client_metadata',
    withClaims({ iss: 'another-software-product' }),
  ),
  rejected(
    'aud.wrong',
    'J5 aud is the Data Holder issuer',
    'a request for another audience is refused',
    400,
    'invalid_client_metadata',
    withClaims({ aud: 'https://another-data-holder.example/oauth2/token' }),
  ),
  rejected(
    'exp.past',
    'J6 exp and iat within the allowed clock skew',
    'an expired request is refused',
    400,
    'invalid_client_metadata',
    withClaims({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 3900 }),
  ),
  rejected(
    'iat.future',
    'J6 exp and iat within the allowed clock skew',
    'a request issued in the future is refused',
    400,
    'invalid_client_metadata',
    withClaims({ iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 3900 }),
  ),
  ...REFUSED_VALUES.map(([claim, value]) =>
    rejected(
      `metadata.${claim}`,
      'J8 client metadata values',
      `${claim} ${JSON.stringify(value)} is refused`,
      400,
      'invalid_client_metadata',
      withClaims({ [claim]: value }),
    ),
  ),
  rejected(
    'ssa.missing',
    'S1 the software statement is required',
    'a request without software_statement is refused',
    400,
    'invalid_client_metadata',
    withClaims({ software_statement: undefined }),
  ),
  rejected(
    'ssa.tampered',
    'S2 the SSA verifies with the Register keys',
    'an SSA whose signature does not verify is refused',
    400,
    'invalid_software_statement',
    async (context, product, keys) =>
      requestFor(context, product, keys.ps256, {
        claims: { software_statement: tampered(await product.ssa()) },
      }),
  ),
  rejected(
    'ssa.self-signed',
    'S2 the SSA verifies with the Register keys',
    'an SSA signed by anyone but the Register is refused',
    400,
    'invalid_software_statement',
    async (context, product, keys) => {
      const forged = await sign(
        { ...claimsOf(await product.ssa()) },
        { alg: 'PS256', kid: keys.ps256.kid, typ: 'JWT' },
        keys.ps256,
      );
      return requestFor(context, product, keys.ps256, { claims: { software_statement: forged } });
    },
  ),
  rejected(
    'redirect.not-attested',
    'U1 redirect_uris are a subset of the SSA redirect_uris',
    'a redirect URI the SSA does not carry is refused',
    400,
    'invalid_redirect_uri',
    withClaims({ redirect_uris: ['https://attacker.example/callback'] }),
  ),
  {
    id: 'redirect.hostnames',
    rule: 'U2 the SSA redirect URIs share one host (enable_redirect_uri_hostname_validation, on by default)',
    title: 'an SSA whose redirect URIs use two hosts is refused',
    async run(context) {
      const { products, keys } = context.conformance.state;
      const jwt = await requestFor(
        context,
        need(products, 'the products').twoHosts,
        need(keys, 'the keys').ps256,
      );
      expectError(await post(context, jwt, 'SSA redirect URIs on two hosts'), 400, 'invalid_client_metadata');
    },
  },
  {
    id: 'register.accepted',
    rule: 'J1 J9 S3 a conforming PS256 request is registered',
    title: 'a conforming PS256 request gets 201 with the SSA unmodified and its metadata',
    async run(context) {
      const { state } = context.conformance;
      const product = need(state.products, 'the products').a;
      const key = need(state.keys, 'the keys').ps256;
      const ssa = await product.ssa();
      const jwt = await registrationRequest({
        ssa,
        softwareId: product.softwareId,
        audience: context.conformance.issuer,
        key,
        claims: { obkit_conformance_unknown_claim: 'ignored', redirect_uris: [product.redirectUris[0]] },
      });
      const answer = expectError(await post(context, jwt, 'a conforming PS256 request'), 201);
      const body = answer.body;
      expect(typeof body.client_id === 'string' && body.client_id !== '', 'no client_id');
      expect(body.software_statement === ssa, 'the software_statement is not the SSA byte for byte');
      expect(body.software_id === product.softwareId, `software_id ${String(body.software_id)}`);
      expect(
        body.org_id === 'obkit-conformance-org',
        `org_id ${String(body.org_id)} (the SSA's is obkit-conformance-org)`,
      );
      expect(body.token_endpoint_auth_method === 'private_key_jwt', 'token_endpoint_auth_method');
      expect(
        JSON.stringify(body.redirect_uris) === JSON.stringify([product.redirectUris[0]]),
        `redirect_uris ${JSON.stringify(body.redirect_uris)}: expected the requested subset`,
      );
      expect(!('obkit_conformance_unknown_claim' in body), 'an unknown request claim was echoed');
      state.first = { product, key, clientId: body.client_id, issuedAt: body.client_id_issued_at };
    },
  },
  {
    id: 'jti.replay',
    rule: 'J7 a request jti is used once',
    title: 'a request replaying an accepted jti is refused (for another software product too)',
    async run(context) {
      const { state } = context.conformance;
      const { b, c } = need(state.products, 'the products');
      const cKey = need(state.keys, 'the keys').ps256;
      const bKey = need(state.keys, 'the keys').b;
      // Product B registers with a known jti; product A's request then reuses it.
      const jti = randomUUID();
      const accepted = await requestFor(context, b, bKey, { claims: { jti } });
      const answer = expectError(await post(context, accepted, `a conforming request, jti ${jti}`), 201);
      state.second = {
        product: b,
        key: bKey,
        clientId: answer.body.client_id as string,
        issuedAt: answer.body.client_id_issued_at,
      };
      const replay = await requestFor(context, c, cKey, { claims: { jti } });
      expectError(
        await post(context, replay, `another product's request reusing jti ${jti}`),
        400,
        'invalid_client_metadata',
      );
      // The same request with a fresh jti is accepted: the refusal above was the jti's.
      const fresh = await requestFor(context, c, cKey);
      const registered = expectError(await post(context, fresh, 'the same request with a fresh jti'), 201);
      state.third = {
        product: c,
        key: cKey,
        clientId: registered.body.client_id as string,
        issuedAt: registered.body.client_id_issued_at,
      };
    },
  },
  {
    id: 'register.es256',
    rule: 'J1 alg is PS256 or ES256',
    title: 'an ES256 request is accepted (PUT of the first registration signed ES256)',
    async run(context) {
      const { state } = context.conformance;
      const first = need(state.first, 'the first registration');
      first.token = await bearer(context, first);
      const jwt = await requestFor(context, first.product, need(state.keys, 'the keys').es256, {
        claims: { token_endpoint_auth_signing_alg: 'ES256' },
      });
      const answer = expectError(
        await clientCall(context, 'PUT', first.clientId, first.token, {
          body: jwt,
          describe: 'a conforming ES256 request',
        }),
        200,
      );
      expect(
        answer.body.token_endpoint_auth_signing_alg === 'ES256',
        'token_endpoint_auth_signing_alg was not updated',
      );
      // Back to PS256, so the cases below authenticate with the first key.
      const back = await requestFor(context, first.product, first.key);
      expectError(
        await clientCall(context, 'PUT', first.clientId, first.token, {
          body: back,
          describe: 'a conforming PS256 request',
        }),
        200,
      );
    },
  },
  {
    id: 'duplicate.software-id',
    rule: 'D1 one active registration per software_id',
    title: 'a second registration of a registered software product is refused',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const jwt = await requestFor(context, first.product, first.key);
      expectError(
        await post(context, jwt, 'a conforming request of an already registered product'),
        400,
        'invalid_client_metadata',
      );
    },
  },
  {
    id: 'token.bound',
    rule: 'A1 the token is client_credentials, private_key_jwt, bound to the transport certificate',
    title: 'a client_credentials token carries cnf.x5t#S256 of the transport certificate',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const answer = await token(context, first);
      expect(
        isAnswer(answer) && answer.status === 200,
        `the token endpoint answered ${describeAnswer(answer)}`,
      );
      const accessToken = answer.body.access_token as string;
      expect(
        answer.body.token_type === 'Bearer' || answer.body.token_type === 'bearer',
        `token_type ${String(answer.body.token_type)}`,
      );
      if (accessToken.split('.').length === 3) {
        const cnf = (claimsOf(accessToken).cnf ?? {}) as Record<string, unknown>;
        const thumbprint = certificateThumbprint(context.conformance.transport.pair.certificate);
        expect(
          cnf['x5t#S256'] === thumbprint,
          `cnf.x5t#S256 ${String(cnf['x5t#S256'])}, expected ${thumbprint}`,
        );
      }
      first.token = accessToken;
    },
  },
  {
    id: 'get.accepted',
    rule: 'A1 GET /register/{ClientId} with the client’s bound token',
    title: 'GET of the registration with its own token answers 200',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const answer = expectError(
        await clientCall(context, 'GET', first.clientId, need(first.token, 'a token')),
        200,
      );
      expect(answer.body.client_id === first.clientId, `client_id ${String(answer.body.client_id)}`);
    },
  },
  {
    id: 'get.no-token',
    rule: 'A2 no, malformed or revoked token → 401 invalid_token',
    title: 'GET without an access token is refused with 401 and WWW-Authenticate',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const answer = await clientCall(context, 'GET', first.clientId, undefined);
      expect(isAnswer(answer) && answer.status === 401, `expected HTTP 401, got ${describeAnswer(answer)}`);
      expect(
        /^Bearer/i.test(String(answer.headers['www-authenticate'] ?? '')),
        'no WWW-Authenticate: Bearer header',
      );
    },
  },
  {
    id: 'get.malformed-token',
    rule: 'A2 no, malformed or revoked token → 401 invalid_token',
    title: 'GET with a malformed token is refused with 401 invalid_token',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const answer = await clientCall(context, 'GET', first.clientId, 'not-a-token', {
        describe: 'a malformed token',
      });
      expect(isAnswer(answer) && answer.status === 401, `expected HTTP 401, got ${describeAnswer(answer)}`);
      expect(
        /invalid_token/.test(String(answer.headers['www-authenticate'] ?? '')) ||
          answer.body.error === 'invalid_token',
        `expected invalid_token, got ${describeAnswer(answer)}`,
      );
    },
  },
  {
    id: 'get.wrong-certificate',
    rule: 'A3 the token is refused over another certificate (RFC 8705)',
    title: 'GET with the client’s token over another trusted certificate is refused with 401 invalid_token',
    async run(context) {
      const { state, otherTrusted } = context.conformance;
      const first = need(state.first, 'the first registration');
      const certificate = need(
        otherTrusted,
        'another trusted certificate (the sandbox CA key; not available for this target)',
      );
      const answer = await clientCall(context, 'GET', first.clientId, need(first.token, 'a token'), {
        certificate,
      });
      expectError(answer, 401, 'invalid_token');
    },
  },
  {
    id: 'get.insufficient-scope',
    rule: 'A4 a token without cdr:registration → 403 insufficient_scope',
    title: 'GET with a token lacking cdr:registration is refused with 403 insufficient_scope',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const narrow = await bearer(context, first, 'bank:accounts.basic:read');
      expectError(
        await clientCall(context, 'GET', first.clientId, narrow, {
          describe: 'a token with scope bank:accounts.basic:read',
        }),
        403,
        'insufficient_scope',
      );
    },
  },
  {
    id: 'get.other-client',
    rule: 'A5 {ClientId} not the token’s client, or unknown → 401 invalid_client',
    title: 'GET of a registration with another client’s token is refused with 401 invalid_client',
    async run(context) {
      const { state } = context.conformance;
      const first = need(state.first, 'the first registration');
      const second = need(state.second, 'the second registration');
      second.token ??= await bearer(context, second);
      expectError(
        await clientCall(context, 'GET', first.clientId, second.token, {
          describe: 'another client’s token',
        }),
        401,
        'invalid_client',
      );
    },
  },
  {
    id: 'get.unknown-client',
    rule: 'A5 {ClientId} not the token’s client, or unknown → 401 invalid_client',
    title: 'GET of an unknown client id is refused with 401 invalid_client',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      expectError(
        await clientCall(context, 'GET', randomUUID(), need(first.token, 'a token')),
        401,
        'invalid_client',
      );
    },
  },
  {
    id: 'put.accepted',
    rule: 'D2 PUT re-validates, keeps client_id and client_id_issued_at',
    title: 'PUT with a conforming request answers 200 with the same client_id and issue time',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const jwt = await requestFor(context, first.product, first.key, {
        claims: { redirect_uris: first.product.redirectUris },
      });
      const answer = expectError(
        await clientCall(context, 'PUT', first.clientId, need(first.token, 'a token'), {
          body: jwt,
          describe: 'a conforming request with both redirect URIs',
        }),
        200,
      );
      expect(
        answer.body.client_id === first.clientId,
        `client_id changed to ${String(answer.body.client_id)}`,
      );
      expect(
        answer.body.client_id_issued_at === first.issuedAt,
        `client_id_issued_at changed from ${String(first.issuedAt)} to ${String(answer.body.client_id_issued_at)}`,
      );
      expect(
        JSON.stringify(answer.body.redirect_uris) === JSON.stringify(first.product.redirectUris),
        `redirect_uris ${JSON.stringify(answer.body.redirect_uris)}`,
      );
    },
  },
  {
    id: 'put.invalid',
    rule: 'D2 PUT re-validates everything as POST',
    title: 'PUT with a request for another audience is refused and changes nothing',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const jwt = await requestFor(context, first.product, first.key, {
        claims: {
          aud: 'https://another-data-holder.example/oauth2/token',
          redirect_uris: [first.product.redirectUris[1]],
        },
      });
      expectError(
        await clientCall(context, 'PUT', first.clientId, need(first.token, 'a token'), {
          body: jwt,
          describe: 'a request for another audience',
        }),
        400,
        'invalid_client_metadata',
      );
      const read = expectError(await clientCall(context, 'GET', first.clientId, first.token), 200);
      expect(
        JSON.stringify(read.body.redirect_uris) === JSON.stringify(first.product.redirectUris),
        'the refused PUT changed the registration',
      );
    },
  },
  {
    id: 'put.other-software-product',
    rule: 'D2 PUT rejects an SSA for another software_id',
    title: 'PUT with another software product’s SSA is refused with invalid_software_statement',
    async run(context) {
      const { state } = context.conformance;
      const first = need(state.first, 'the first registration');
      const second = need(state.second, 'the second registration');
      const jwt = await requestFor(context, second.product, second.key);
      expectError(
        await clientCall(context, 'PUT', first.clientId, need(first.token, 'a token'), {
          body: jwt,
          describe: 'another product’s conforming request',
        }),
        400,
        'invalid_software_statement',
      );
    },
  },
  {
    id: 'get.revoked-token',
    rule: 'A2 no, malformed or revoked token → 401 invalid_token',
    title: 'a revoked token is refused within 5 s',
    async run(context) {
      const { state } = context.conformance;
      const second = need(state.second, 'the second registration');
      const revoked = await bearer(context, second);
      const endpoint = need(state.tokenEndpoint, 'the token endpoint').replace(/\/token$/, '/revoke');
      const answer = await context.call({
        method: 'POST',
        url: endpoint,
        certificate: context.conformance.transport,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: revoked,
          client_id: second.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await clientAssertion(second.clientId, context.conformance.issuer, second.key),
        }).toString(),
        describe: 'revocation of an access token (RFC 7009)',
      });
      expectError(answer, 200);
      const deadline = Date.now() + 5000;
      for (;;) {
        const read = await clientCall(context, 'GET', second.clientId, revoked, {
          describe: 'the revoked token',
        });
        if (isAnswer(read) && read.status === 401) return;
        if (Date.now() > deadline)
          expect(false, `the revoked token still gets ${describeAnswer(read)} after 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        context.exchanges.pop();
      }
    },
  },
  {
    id: 'delete.accepted',
    rule: 'A6 DELETE → 204; then GET → 401 and the token endpoint answers invalid_client',
    title: 'DELETE answers 204, then GET is refused and the client gets no token',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const accessToken = need(first.token, 'a token');
      expectError(await clientCall(context, 'DELETE', first.clientId, accessToken), 204);
      first.token = undefined;
      const read = await clientCall(context, 'GET', first.clientId, accessToken, {
        describe: 'the deleted client’s token',
      });
      expect(
        isAnswer(read) && read.status === 401,
        `GET after DELETE: expected HTTP 401, got ${describeAnswer(read)}`,
      );
      expectError(await token(context, first), 401, 'invalid_client');
    },
  },
  {
    id: 'register.after-delete',
    rule: 'D1 one active registration per software_id',
    title: 'a deleted registration’s software product can register again',
    async run(context) {
      const first = need(context.conformance.state.first, 'the first registration');
      const answer = expectError(
        await post(
          context,
          await requestFor(context, first.product, first.key),
          'a conforming request after DELETE',
        ),
        201,
      );
      first.clientId = answer.body.client_id as string;
      first.token = await bearer(context, first);
    },
  },
];

/** Deletes what the run registered (best effort) and deactivates its software products. */
export async function cleanUp(context: CaseContext): Promise<void> {
  const { state, register } = context.conformance;
  for (const registered of [state.first, state.second, state.third]) {
    if (!registered) continue;
    const accessToken = registered.token ?? (await bearer(context, registered).catch(() => undefined));
    if (accessToken)
      await clientCall(context, 'DELETE', registered.clientId, accessToken).catch(() => undefined);
  }
  for (const product of Object.values(state.products ?? {}))
    await register.deactivate(product).catch(() => undefined);
}
