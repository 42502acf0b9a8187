import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeJwt, importJWK, type JWK } from 'jose';
import {
  buildClientAssertion,
  buildRegistrationRequest,
  clientAssertionFields,
  createRecipientKeys,
  REGISTER_ISSUER,
  type RecipientKeys,
  RegisterClient,
  SOFTWARE_ROLE,
  type SoftwareProductMetadata,
  signJwt,
} from '../../lib/cdr/index.ts';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { createCertificateAuthority, issueCertificate } from '../../lib/pki/index.ts';
import { DcrApi } from './api-client/dcr.ts';
import { ApiCallError, type TlsMaterial } from './api-client/http.ts';
import { IdentityServerApi } from './api-client/identity-server.ts';
import type { Progress, StepResult } from './report.ts';
import { dataSharingJourney } from './smoke-data-sharing.ts';
import type { Target } from './target.ts';

/**
 * The smoke test, as an Accredited Data Recipient would do it: get an SSA, register over mutual TLS
 * through the gateway, get a certificate-bound token with private_key_jwt, read and update the
 * registration, and — in a sandbox running obkit's banking service — collect consent and fetch the
 * consented accounts until the arrangement is revoked (smoke-data-sharing.ts); then delete the
 * registration, and prove validation is on with a rejected request. Everything it registers it deletes.
 * Without an SSA against production it runs the checks that need none.
 */

export class SmokeFailure extends Error {
  constructor(check: string, detail: string) {
    super(`smoke test failed at "${check}": ${detail}`);
    this.name = 'SmokeFailure';
  }
}

export interface GivenRecipient {
  /** An SSA issued for the recipient; without one, the target's sandbox Register issues it (`--register`). */
  ssa?: string;
  /** Private JWK (with kid and alg) that the SSA's jwks_uri publishes. */
  signingKey: JWK;
}

/** The flags handing over an SSA and its signing key (node:util parseArgs shape). */
export const givenRecipientOptions = {
  ssa: { type: 'string' },
  'signing-key': { type: 'string' },
} as const;

/**
 * The recipient of `--ssa FILE --signing-key JWK.json`, or of `--signing-key` alone (the key the sandbox
 * Register hosts for a fresh software product); undefined when neither flag is given.
 */
export async function readGivenRecipient(flags: {
  ssa?: string | undefined;
  'signing-key'?: string | undefined;
}): Promise<GivenRecipient | undefined> {
  const { ssa, 'signing-key': signingKey } = flags;
  if (!ssa && !signingKey) return undefined;
  if (!signingKey) throw new Error('--ssa needs --signing-key (the recipient key its jwks_uri publishes)');
  return {
    ...(ssa ? { ssa: (await readFile(ssa, 'utf8')).trim() } : {}),
    signingKey: JSON.parse(await readFile(signingKey, 'utf8')),
  };
}

export interface SmokeOptions {
  progress?: Progress;
  /** A real sandbox: an SSA and signing key handed over; the target's client certificate is the transport. */
  given?: GivenRecipient;
  /** false: only the checks that need no SSA, even where one could be had (scheduled verification). */
  registration?: boolean;
}

export async function runSmokeTest(target: Target, options: SmokeOptions = {}): Promise<StepResult> {
  const checks: string[] = [];
  const pass = (check: string) => {
    checks.push(check);
    options.progress?.(`✓ ${check}`);
  };
  const discovery = await checkDiscovery(target, pass);
  await refusesUntrustedCertificate(target);
  pass('gateway refuses an untrusted client certificate');
  if (!target.clientCertificate) {
    checks.push('skipped: registration (no transport certificate given)');
    return { step: 'smoke-test', status: 'passed', actions: checks };
  }
  const gateway = new DcrApi(target.http(target.manifest.gateway.url, { tls: mutualTls(target) }));
  const recipient = await recipientFor(target, gateway, options, pass);
  if (!recipient) {
    checks.push(
      `skipped: registration (${options.registration === false ? '--no-registration' : 'production target without an SSA'})`,
    );
  } else {
    await registrationLifecycle(target, gateway, discovery, recipient, pass);
  }
  return { step: 'smoke-test', status: 'passed', actions: checks };
}

type Pass = (check: string) => void;
type SmokeRecipient = { ssa: string; key: RecipientKeys; cleanup?: () => Promise<void> };

/** Discovery names the issuer and the registration endpoint; the JWKS publishes keys. */
async function checkDiscovery(target: Target, pass: Pass) {
  const { manifest } = target;
  const is = new IdentityServerApi(target.http(manifest.identityServer.url));
  const discovery = await is.discovery();
  expect(
    'discovery',
    discovery.issuer === manifest.identityServer.issuer,
    `issuer ${discovery.issuer}, expected ${manifest.identityServer.issuer}`,
  );
  expect('discovery', typeof discovery.registration_endpoint === 'string', 'no registration_endpoint');
  pass('discovery names the issuer and registration endpoint');
  const jwks = await is.jwks(discovery.jwks_uri);
  expect('JWKS', Array.isArray(jwks.keys) && jwks.keys.length > 0, 'no keys published');
  pass(`identity server JWKS publishes ${jwks.keys.length} key(s)`);
  return discovery;
}

/**
 * The recipient to register: the given SSA, or one the sandbox Register issues. Without either (or with
 * --no-registration) only a self-signed SSA's rejection is checked, and there is none (undefined).
 */
async function recipientFor(
  target: Target,
  gateway: DcrApi,
  options: SmokeOptions,
  pass: Pass,
): Promise<SmokeRecipient | undefined> {
  const { manifest } = target;
  const givenKey = options.given ? await keysFromJwk(options.given.signingKey) : undefined;
  if (options.given?.ssa && options.registration !== false) return { ssa: options.given.ssa, key: givenKey! };
  if (manifest.mockRegister && options.registration !== false) {
    const recipient = await sandboxRecipient(target, 'smoke', givenKey);
    pass(`sandbox Register ${manifest.mockRegister.url} issued an SSA for a fresh software product`);
    return recipient;
  }
  if (givenKey && options.registration !== false) {
    throw new Error('--signing-key without --ssa needs a sandbox Register to issue the SSA (--register URL)');
  }
  const rejected = await gateway.register(await selfSignedSsaRequest(manifest.identityServer.issuer));
  expect(
    'self-signed SSA',
    rejected.status === 400,
    `HTTP ${rejected.status} ${JSON.stringify(rejected.data)}`,
  );
  expect(
    'self-signed SSA',
    rejected.data.error === 'invalid_software_statement',
    JSON.stringify(rejected.data),
  );
  pass('a self-signed SSA is rejected (400 invalid_software_statement)');
  return undefined;
}

/** Register, token, read, update, (sandbox) share data, delete — and leave nothing behind on failure. */
async function registrationLifecycle(
  target: Target,
  gateway: DcrApi,
  discovery: Awaited<ReturnType<typeof checkDiscovery>>,
  recipient: SmokeRecipient,
  pass: Pass,
): Promise<void> {
  const { manifest } = target;
  const request = () =>
    buildRegistrationRequest({
      ssa: recipient.ssa,
      audience: manifest.identityServer.issuer,
      key: recipient.key,
    });
  let clientId: string | undefined;
  let token: string | undefined;
  try {
    await waitForRoute(gateway);
    const rejected = await gateway.register(tamperSignature(await request()));
    expect(
      'bad signature',
      rejected.status === 400,
      `HTTP ${rejected.status} ${JSON.stringify(rejected.data)}`,
    );
    pass(`a request with a bad signature is rejected (400 ${rejected.data.error})`);

    const registered = await registerChecked(gateway, await request(), recipient.ssa);
    clientId = registered.clientId;
    pass(`registered through the gateway: 201, client_id ${clientId}, SSA unmodified, metadata as requested`);

    token = await certificateBoundToken(target, discovery.token_endpoint, clientId, recipient.key);
    pass('certificate-bound client_credentials token (private_key_jwt)');

    const read = await gateway.get(clientId, token);
    expect(
      'GET /register/{ClientId}',
      read.status === 200 && read.data.client_id === clientId,
      `HTTP ${read.status}`,
    );
    pass('GET /register/{ClientId}: 200');

    const updated = await gateway.update(clientId, token, await request());
    expect(
      'PUT /register/{ClientId}',
      updated.status === 200 && updated.data.client_id === clientId,
      `HTTP ${updated.status} ${JSON.stringify(updated.data)}`,
    );
    pass('PUT /register/{ClientId}: 200, same client_id');

    // Sandbox with obkit's banking service: the client goes on to collect consent and fetch data.
    if (manifest.mode === 'sandbox' && manifest.banking) {
      const redirectUri = registered.ssaClaims.redirect_uris[0]!;
      await dataSharingJourney(target, { clientId, key: recipient.key, redirectUri }, pass);
    }

    const deleted = await gateway.delete(clientId, token);
    expect('DELETE /register/{ClientId}', deleted.status === 204, `HTTP ${deleted.status}`);
    const gone = await gateway.get(clientId, token);
    expect('DELETE /register/{ClientId}', gone.status === 401, `GET after DELETE answered ${gone.status}`);
    clientId = undefined;
    pass('DELETE /register/{ClientId}: 204, then GET 401');
  } finally {
    // Leave nothing behind, even when a check failed half-way.
    if (clientId && token) await gateway.delete(clientId, token).catch(() => undefined);
    await recipient.cleanup?.().catch(() => undefined);
  }
}

/** POST /register: 201 with a client_id, the SSA returned unmodified and the SSA's metadata. */
async function registerChecked(gateway: DcrApi, requestJwt: string, ssa: string) {
  const created = await gateway.register(requestJwt);
  expect('register', created.status === 201, `HTTP ${created.status} ${JSON.stringify(created.data)}`);
  const clientId = created.data.client_id;
  expect('register', typeof clientId === 'string' && clientId.length > 0, 'no client_id');
  expect('register', created.data.software_statement === ssa, 'the SSA was not returned unmodified');
  const ssaClaims = decodeJwt(ssa) as unknown as SoftwareProductMetadata & { software_id: string };
  expect(
    'register',
    created.data.software_id === ssaClaims.software_id,
    `software_id ${String(created.data.software_id)}`,
  );
  expect(
    'register',
    sameSet(created.data.redirect_uris, ssaClaims.redirect_uris),
    'redirect_uris differ from the SSA',
  );
  expect(
    'register',
    created.data.token_endpoint_auth_method === 'private_key_jwt',
    'token_endpoint_auth_method',
  );
  return { clientId: clientId as string, ssaClaims };
}

/** A fresh sandbox software product with a hosted JWKS (of `given` keys, or new ones), and an SSA for it. */
export async function sandboxRecipient(
  target: Target,
  purpose: string,
  given?: RecipientKeys,
): Promise<{
  ssa: string;
  key: RecipientKeys;
  softwareProductId: string;
  brandId: string;
  cleanup: () => Promise<void>;
}> {
  const { manifest } = target;
  if (!manifest.mockRegister) throw new Error('this target has no sandbox Register');
  const registerUrl = manifest.mockRegister.url;
  const connect = () =>
    new RegisterClient({
      baseUrl: registerUrl,
      ...(target.ca ? { ca: target.ca } : {}),
      ...(target.clientCertificate ? { clientCertificate: target.clientCertificate } : {}),
      admin: target.registerAdmin,
    });
  const register = connect();
  try {
    const key = given ?? (await createRecipientKeys({ alg: 'PS256' }));
    const softwareProductId = `obkit-${purpose}-${randomBytes(6).toString('hex')}`;
    const brandId = `obkit-${purpose}-brand`;
    const site = `https://${purpose}.recipient.obkit.example`;
    await register.putRecipientJwks(softwareProductId, key.jwks);
    await register.putSoftwareProduct(softwareProductId, {
      brandId,
      industry: 'banking',
      metadata: {
        org_id: `obkit-${purpose}-org`,
        org_name: `obkit ${purpose} recipient`,
        client_name: `obkit ${purpose}`,
        client_description: `Software product created by obkit (${purpose})`,
        client_uri: site,
        redirect_uris: [`${site}/callback`],
        logo_uri: `${site}/logo.png`,
        tos_uri: `${site}/tos`,
        policy_uri: `${site}/policy`,
        jwks_uri: register.recipientJwksUrl(softwareProductId),
        revocation_uri: `${site}/revoke`,
        recipient_base_uri: site,
        scope:
          'openid profile bank:accounts.basic:read bank:transactions:read common:customer.basic:read cdr:registration',
      },
    });
    const ssa = await register.getSsa({ brandId, softwareProductId, industry: 'banking' });
    return {
      ssa,
      key,
      softwareProductId,
      brandId,
      // Its own client: the one above is closed by then.
      cleanup: async () => {
        const later = connect();
        try {
          await later.setSoftwareProductStatus(softwareProductId, { status: 'INACTIVE' });
        } finally {
          await later.close();
        }
      },
    };
  } finally {
    await register.close();
  }
}

async function certificateBoundToken(
  target: Target,
  tokenEndpoint: string,
  clientId: string,
  key: RecipientKeys,
) {
  const is = new IdentityServerApi(
    target.http(target.manifest.identityServer.url, { tls: mutualTls(target) }),
  );
  const assertion = await buildClientAssertion({ clientId, audience: tokenEndpoint, key });
  let response: Awaited<ReturnType<IdentityServerApi['token']>>;
  try {
    response = await is.token(
      {
        grant_type: 'client_credentials',
        scope: 'cdr:registration',
        client_id: clientId,
        ...clientAssertionFields(assertion),
      },
      tokenEndpoint,
    );
  } catch (error) {
    throw new SmokeFailure('token', (error as Error).message);
  }
  const thumbprint = certificateThumbprint(new X509Certificate(target.clientCertificate!.certificate));
  if (response.access_token.split('.').length === 3) {
    const cnf = (decodeJwt(response.access_token).cnf ?? {}) as Record<string, unknown>;
    expect(
      'token',
      cnf['x5t#S256'] === thumbprint,
      'the access token is not bound to the transport certificate',
    );
  }
  return response.access_token;
}

async function refusesUntrustedCertificate(target: Target): Promise<void> {
  const rogueCa = await createCertificateAuthority('obkit smoke untrusted CA');
  const rogue = await issueCertificate(rogueCa, { commonName: 'obkit-untrusted-recipient', usage: 'client' });
  const gateway = new DcrApi(
    target.http(target.manifest.gateway.url, {
      tls: { ca: target.ca, cert: rogue.certificatePem, key: rogue.keyPem },
      retries: 0,
    }),
  );
  let status: number | undefined;
  try {
    status = (await gateway.register('not-a-jwt')).status;
  } catch (error) {
    const refused =
      error instanceof ApiCallError &&
      (error.status === undefined
        ? !/ECONNREFUSED|ENOTFOUND/.test(error.message)
        : [401, 403].includes(error.status));
    if (refused) return;
    throw error;
  }
  expect(
    'untrusted certificate',
    status === 401 || status === 403,
    `the gateway answered HTTP ${status} to an untrusted certificate`,
  );
}

/** A registration whose SSA is signed by a key the Register never had. */
async function selfSignedSsaRequest(audience: string): Promise<string> {
  const forger = await createRecipientKeys({ alg: 'PS256' });
  const now = Math.floor(Date.now() / 1000);
  const softwareId = `obkit-forged-${randomBytes(4).toString('hex')}`;
  const site = 'https://forged.recipient.obkit.example';
  const ssa = await signJwt(
    {
      iss: REGISTER_ISSUER,
      iat: now,
      exp: now + 600,
      jti: randomBytes(12).toString('hex'),
      org_id: 'forged',
      org_name: 'forged',
      client_name: 'forged',
      client_description: 'forged',
      client_uri: site,
      redirect_uris: [`${site}/callback`],
      logo_uri: `${site}/logo.png`,
      jwks_uri: `${site}/jwks`,
      revocation_uri: `${site}/revoke`,
      recipient_base_uri: site,
      software_id: softwareId,
      software_roles: SOFTWARE_ROLE,
      scope: 'openid cdr:registration',
    },
    { typ: 'JWT' },
    forger,
  );
  return buildRegistrationRequest({ ssa, audience, key: forger });
}

export async function keysFromJwk(jwk: JWK): Promise<RecipientKeys> {
  const alg = (jwk.alg ?? 'PS256') as RecipientKeys['alg'];
  if (!jwk.kid) throw new Error('the signing key (JWK) needs a kid');
  const privateKey = (await importJWK(jwk, alg)) as RecipientKeys['privateKey'];
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = jwk;
  const publicJwk = { ...publicPart, kid: jwk.kid, alg, use: 'sig' };
  return {
    alg,
    kid: jwk.kid,
    privateKey,
    privateJwk: { ...jwk, alg },
    publicJwk,
    jwks: { keys: [publicJwk] },
  };
}

/**
 * A deployment reaches the gateway by its next configuration poll: wait (30 s at most) until the DCR
 * route answers with something other than not-found or backend-unavailable. An empty body registers
 * nothing.
 */
async function waitForRoute(gateway: DcrApi): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { status } = await gateway.http.request('POST', gateway.path, {
      headers: { 'content-type': 'application/jwt' },
      data: '',
      expect: [400, 401, 403, 404, 415, 502, 503, 504],
      retry: false,
    });
    if (![404, 502, 503, 504].includes(status)) return;
    if (Date.now() > deadline)
      throw new SmokeFailure('DCR route', `the gateway still answers HTTP ${status} for ${gateway.path}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** TLS options presenting the target's recipient transport certificate. */
function mutualTls(target: Target): TlsMaterial {
  const client = target.clientCertificate;
  return { ca: target.ca, ...(client ? { cert: client.certificate, key: client.key } : {}) };
}

function tamperSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const bytes = Buffer.from(signature!, 'base64url');
  bytes[0] = bytes[0]! ^ 0xff;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

function sameSet(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x) => b.includes(x));
}

function expect(check: string, ok: boolean, detail: string): asserts ok {
  if (!ok) throw new SmokeFailure(check, detail);
}
