import {
  compactVerify,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildClientAssertion,
  buildRegistrationRequest,
  createRecipientKeys,
  type RecipientKeys,
  signJwt,
} from '../../../lib/cdr/index.ts';

const AUDIENCE = 'https://localhost:9446/oauth2/token';

/** An SSA-shaped JWT signed by a throwaway "Register" key: these tests only read its claims. */
async function someSsa(): Promise<string> {
  const { privateKey } = await generateKeyPair('PS256');
  return new SignJWT({
    software_id: 'product-1',
    redirect_uris: ['https://recipient.example/cb', 'https://recipient.example/cb2'],
    scope: 'openid cdr:registration',
  })
    .setProtectedHeader({ alg: 'PS256', kid: 'register', typ: 'JWT' })
    .setIssuer('cdr-register')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
}

describe('recipient keys', () => {
  it.each(['PS256', 'ES256'] as const)(
    'creates a %s key whose public JWKS carries no private member',
    async (alg) => {
      const keys = await createRecipientKeys({ alg });
      expect(keys.publicJwk).toMatchObject({ kid: keys.kid, alg, use: 'sig' });
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
        expect(keys.publicJwk).not.toHaveProperty(member);
      expect(keys.jwks.keys).toEqual([keys.publicJwk]);
    },
  );
});

describe('buildRegistrationRequest', () => {
  let ssa: string;
  let key: RecipientKeys;
  beforeAll(async () => {
    ssa = await someSsa();
    key = await createRecipientKeys();
  });

  it('verifies with the recipient public JWKS and carries CDR defaults', async () => {
    const jwt = await buildRegistrationRequest({ ssa, audience: AUDIENCE, key });
    const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(key.jwks), {
      audience: AUDIENCE,
      issuer: 'product-1',
      algorithms: ['PS256'],
    });
    expect(protectedHeader).toEqual({ alg: 'PS256', kid: key.kid, typ: 'JWT' });
    expect(payload).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: 'web',
      id_token_signed_response_alg: 'PS256',
      request_object_signing_alg: 'PS256',
      authorization_signed_response_alg: 'PS256',
      redirect_uris: ['https://recipient.example/cb', 'https://recipient.example/cb2'],
      software_statement: ssa,
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    const second = await buildRegistrationRequest({ ssa, audience: AUDIENCE, key });
    expect(decodeJwt(second).jti).not.toBe(payload.jti);
  });

  it('signs with ES256 keys and advertises ES256 for the client-signed objects', async () => {
    const es = await createRecipientKeys({ alg: 'ES256' });
    const jwt = await buildRegistrationRequest({ ssa, audience: AUDIENCE, key: es });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(es.jwks), { algorithms: ['ES256'] });
    expect(payload).toMatchObject({
      token_endpoint_auth_signing_alg: 'ES256',
      request_object_signing_alg: 'ES256',
    });
  });

  it('applies overrides, removes claims set to undefined and omitted ones', async () => {
    const jwt = await buildRegistrationRequest({
      ssa,
      audience: AUDIENCE,
      key,
      softwareId: 'someone-else',
      claims: { response_types: ['code id_token'], application_type: undefined, extra: 1 },
      omit: ['software_statement', 'jti'],
    });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(key.jwks));
    expect(payload.iss).toBe('someone-else');
    expect(payload.response_types).toEqual(['code id_token']);
    expect(payload.extra).toBe(1);
    for (const name of ['application_type', 'software_statement', 'jti'])
      expect(payload).not.toHaveProperty(name);
  });

  it('produces the algorithms a Data Holder must refuse: none, HS256, RS256 over the same RSA key', async () => {
    const none = await buildRegistrationRequest({ ssa, audience: AUDIENCE, key, header: { alg: 'none' } });
    expect(none.endsWith('.')).toBe(true);
    expect(decodeProtectedHeader(none).alg).toBe('none');

    const secret = new Uint8Array(32).fill(7);
    const hs = await signJwt({ a: 1 }, { alg: 'HS256' }, key, { hmacSecret: secret });
    await expect(compactVerify(hs, secret)).resolves.toBeDefined();

    const rs = await buildRegistrationRequest({ ssa, audience: AUDIENCE, key, header: { alg: 'RS256' } });
    const rsaJwks = createLocalJWKSet({ keys: [{ ...key.publicJwk, alg: 'RS256' }] });
    await expect(jwtVerify(rs, rsaJwks, { algorithms: ['RS256'] })).resolves.toBeDefined();
    await expect(jwtVerify(rs, createLocalJWKSet(key.jwks), { algorithms: ['PS256'] })).rejects.toThrow();
  });
});

describe('buildClientAssertion', () => {
  it('is a private_key_jwt assertion for the token endpoint', async () => {
    const key = await createRecipientKeys();
    const jwt = await buildClientAssertion({ clientId: 'client-1', audience: AUDIENCE, key });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(key.jwks), {
      audience: AUDIENCE,
      issuer: 'client-1',
      subject: 'client-1',
    });
    expect(payload.jti).toBeTruthy();
    expect(payload.exp! - payload.iat!).toBe(120);
  });
});
