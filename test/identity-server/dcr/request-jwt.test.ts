import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRegistrationRequest,
  createRecipientKeys,
  type RegistrationRequestOptions,
  signJwt,
} from '../../../lib/cdr/recipient.ts';
import { type DcrHarness, startHarness } from '../../support/dcr.ts';
import { databaseTargets } from '../../support/dcr-targets.ts';
import type { SeededProduct } from '../../support/register.ts';
import { startMockRegister, type TestRegister } from '../../support/register.ts';

/** Short, so the rotation test can wait it out; the default is 10 s. */
const REFETCH_COOLDOWN_MS = 1500;

/** Time-relative variations are getters: evaluated when the test runs, not when the file loads. */
type Variation = Partial<RegistrationRequestOptions>;
const now = () => Math.floor(Date.now() / 1000);

/** Request JWT rules (docs/dcr-rules.md, "The request JWT"): each rejected variation, then its accepted twin. */
const rejected: Array<[string, Variation, string, RegExp?]> = [
  [
    'iss other than the software_id',
    { claims: { iss: 'someone-else' } },
    'invalid_client_metadata',
    /Invalid issuer/,
  ],
  [
    'aud another server',
    { claims: { aud: 'https://other.example/oauth2/token' } },
    'invalid_client_metadata',
    /Invalid audience provided/,
  ],
  ['no aud', { omit: ['aud'] }, 'invalid_client_metadata', /Invalid audience provided/],
  [
    'exp in the past beyond the skew',
    {
      get now() {
        return now() - 400;
      },
      expiresIn: 300,
    },
    'invalid_client_metadata',
    /expired/,
  ],
  [
    'iat in the future beyond the skew',
    {
      get now() {
        return now() + 120;
      },
    },
    'invalid_client_metadata',
    /future/,
  ],
  ['no iat', { omit: ['iat'] }, 'invalid_client_metadata', /iat/],
  ['no exp', { omit: ['exp'] }, 'invalid_client_metadata', /exp/],
  ['no jti', { omit: ['jti'] }, 'invalid_client_metadata', /jti/],
  [
    'no token_endpoint_auth_method',
    { omit: ['token_endpoint_auth_method'] },
    'invalid_client_metadata',
    /token_endpoint_auth_method/,
  ],
  [
    'token_endpoint_auth_method client_secret_basic',
    { claims: { token_endpoint_auth_method: 'client_secret_basic' } },
    'invalid_client_metadata',
  ],
  [
    'no token_endpoint_auth_signing_alg',
    { omit: ['token_endpoint_auth_signing_alg'] },
    'invalid_client_metadata',
  ],
  [
    'token_endpoint_auth_signing_alg RS256',
    { claims: { token_endpoint_auth_signing_alg: 'RS256' } },
    'invalid_client_metadata',
  ],
  ['no grant_types', { omit: ['grant_types'] }, 'invalid_client_metadata', /grant_types/],
  [
    'grant_types with password',
    { claims: { grant_types: ['client_credentials', 'password'] } },
    'invalid_client_metadata',
  ],
  ['grant_types with implicit', { claims: { grant_types: ['implicit'] } }, 'invalid_client_metadata'],
  ['empty grant_types', { claims: { grant_types: [] } }, 'invalid_client_metadata'],
  ['no response_types', { omit: ['response_types'] }, 'invalid_client_metadata', /response_types/],
  [
    'response_types code id_token while hybrid is disabled',
    { claims: { response_types: ['code id_token'] } },
    'invalid_client_metadata',
  ],
  ['response_types token', { claims: { response_types: ['token'] } }, 'invalid_client_metadata'],
  ['no id_token_signed_response_alg', { omit: ['id_token_signed_response_alg'] }, 'invalid_client_metadata'],
  [
    'id_token_signed_response_alg none',
    { claims: { id_token_signed_response_alg: 'none' } },
    'invalid_client_metadata',
  ],
  [
    'id_token_signed_response_alg RS256',
    { claims: { id_token_signed_response_alg: 'RS256' } },
    'invalid_client_metadata',
  ],
  ['application_type native', { claims: { application_type: 'native' } }, 'invalid_client_metadata'],
  [
    'request_object_signing_alg RS256',
    { claims: { request_object_signing_alg: 'RS256' } },
    'invalid_client_metadata',
  ],
  [
    'request_object_signing_alg none',
    { claims: { request_object_signing_alg: 'none' } },
    'invalid_client_metadata',
  ],
  [
    'no authorization_signed_response_alg with code',
    { omit: ['authorization_signed_response_alg'] },
    'invalid_client_metadata',
  ],
  [
    'authorization_signed_response_alg none',
    { claims: { authorization_signed_response_alg: 'none' } },
    'invalid_client_metadata',
  ],
  [
    'authorization encryption alg RSA1_5',
    { claims: { authorization_encrypted_response_alg: 'RSA1_5' } },
    'invalid_client_metadata',
  ],
  [
    'authorization encryption enc A128GCM',
    {
      claims: {
        authorization_encrypted_response_alg: 'RSA-OAEP',
        authorization_encrypted_response_enc: 'A128GCM',
      },
    },
    'invalid_client_metadata',
  ],
  [
    'authorization encryption enc without alg',
    { claims: { authorization_encrypted_response_enc: 'A256GCM' } },
    'invalid_client_metadata',
    /without/,
  ],
  [
    'id_token encryption enc without alg',
    { claims: { id_token_encrypted_response_enc: 'A256GCM' } },
    'invalid_client_metadata',
    /without/,
  ],
  [
    'id_token encryption without the hybrid response type',
    { claims: { id_token_encrypted_response_alg: 'RSA-OAEP', id_token_encrypted_response_enc: 'A256GCM' } },
    'invalid_client_metadata',
    /code id_token/,
  ],
  [
    'a redirect URI the SSA does not list',
    { claims: { redirect_uris: ['https://recipient.example/elsewhere'] } },
    'invalid_redirect_uri',
  ],
  ['empty redirect_uris', { claims: { redirect_uris: [] } }, 'invalid_redirect_uri'],
];

const accepted: Array<[string, Variation, Record<string, unknown>?]> = [
  [
    'exp in the past within the skew',
    {
      get now() {
        return now() - 330;
      },
      expiresIn: 300,
    },
  ],
  [
    'iat in the future within the skew',
    {
      get now() {
        return now() + 30;
      },
    },
  ],
  [
    'grant_types client_credentials only',
    { claims: { grant_types: ['client_credentials'] } },
    { grant_types: ['client_credentials'] },
  ],
  [
    'id_token_signed_response_alg ES256',
    { claims: { id_token_signed_response_alg: 'ES256' } },
    { id_token_signed_response_alg: 'ES256' },
  ],
  ['no application_type', { omit: ['application_type'] }, { application_type: 'web' }],
  [
    'authorization_signed_response_alg ES256',
    { claims: { authorization_signed_response_alg: 'ES256' } },
    { authorization_signed_response_alg: 'ES256' },
  ],
  [
    'authorization encryption RSA-OAEP-256 + A256GCM',
    {
      claims: {
        authorization_encrypted_response_alg: 'RSA-OAEP-256',
        authorization_encrypted_response_enc: 'A256GCM',
      },
    },
    { authorization_encrypted_response_alg: 'RSA-OAEP-256', authorization_encrypted_response_enc: 'A256GCM' },
  ],
  [
    'authorization encryption RSA-OAEP + A128CBC-HS256',
    {
      claims: {
        authorization_encrypted_response_alg: 'RSA-OAEP',
        authorization_encrypted_response_enc: 'A128CBC-HS256',
      },
    },
    {
      authorization_encrypted_response_alg: 'RSA-OAEP',
      authorization_encrypted_response_enc: 'A128CBC-HS256',
    },
  ],
  ['aud as an array holding the issuer', {}, {}],
  ['no redirect_uris: the SSA ones', { omit: ['redirect_uris'] }],
];

describe.each(await databaseTargets())('request JWT rules on $name', ({ databaseUrl }) => {
  let register: TestRegister;
  let dcr: DcrHarness;
  let product: SeededProduct;
  let ssa: string;
  beforeAll(async () => {
    register = await startMockRegister({ databaseUrl });
    dcr = await startHarness({
      register,
      databaseUrl,
      overrides: { open_banking: { dcr: { jwks_retriever: { refetch_cooldown: REFETCH_COOLDOWN_MS } } } },
    });
    product = await dcr.seed();
    ssa = await product.getSsa();
  });
  /** How often the Register served a recipient JWKS, from its own metrics. */
  const recipientJwksFetches = async () => {
    const agent = new Agent({ connect: { ca: register.caPem } });
    try {
      const metrics = await (
        await request(`${register.managementUrl}/metrics`, { dispatcher: agent })
      ).body.text();
      return metrics
        .split('\n')
        .filter((line) => line.startsWith('obkit_http_requests_total{') && line.includes('/recipient-jwks/'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    } finally {
      await agent.close();
    }
  };
  afterAll(async () => {
    await dcr?.close();
    await register?.close();
  });

  it.each(rejected)('rejects %s', async (_name, variation, error, description) => {
    const before = await dcr.counts();
    const reply = await dcr.post(await dcr.requestFor(product, { ssa, ...variation }));
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body.error).toBe(error);
    if (description) expect(reply.body.error_description).toMatch(description);
    expect(await dcr.counts()).toEqual(before);
  });

  it.each(accepted)('accepts %s', async (name, variation, expected) => {
    const fresh = await dcr.seed();
    const claims: Record<string, unknown> = name.startsWith('aud as an array')
      ? { aud: [dcr.issuer, 'https://other.example'] }
      : {};
    const reply = await dcr.post(
      await dcr.requestFor(fresh, { ...variation, claims: { ...claims, ...variation.claims } }),
    );
    expect(reply.status, reply.text).toBe(201);
    if (expected) expect(reply.body).toMatchObject(expected);
  });

  it('registers a subset of the SSA redirect URIs', async () => {
    const fresh = await dcr.seed();
    const reply = await dcr.post(
      await dcr.requestFor(fresh, { claims: { redirect_uris: [fresh.redirectUris[1]!] } }),
    );
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.redirect_uris).toEqual([fresh.redirectUris[1]]);
  });

  describe('signature', () => {
    it.each(['none', 'HS256', 'RS256'])('rejects alg %s before fetching any key', async (alg) => {
      const claims = JSON.parse(
        Buffer.from((await dcr.requestFor(product, { ssa })).split('.')[1]!, 'base64url').toString(),
      );
      const jwt = await signJwt({ ...claims, jti: crypto.randomUUID() }, { alg }, product.recipient);
      const reply = await dcr.post(jwt);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
      expect(reply.body.error_description).toMatch(/alg/);
    });

    it('accepts ES256 and PS256 signatures from the SSA jwks_uri', async () => {
      for (const alg of ['ES256', 'PS256'] as const) {
        const fresh = await dcr.seed({ alg });
        expect((await dcr.post(await dcr.requestFor(fresh))).status, alg).toBe(201);
      }
    });

    it('rejects a request signed with a key that is not at jwks_uri (same kid)', async () => {
      const impostor = await createRecipientKeys({ alg: 'PS256', kid: product.recipient.kid });
      const reply = await dcr.post(await dcr.requestFor(product, { ssa, key: impostor }));
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: 'invalid_client_metadata' });
      expect(reply.body.error_description).toMatch(/signature/);
    });

    it('rejects a request whose kid is not at jwks_uri, even after refetching', async () => {
      const stranger = await createRecipientKeys({ alg: 'PS256' });
      const reply = await dcr.post(await dcr.requestFor(product, { ssa, key: stranger }));
      expect(reply.status).toBe(400);
      expect(reply.body.error_description).toMatch(/no key/);
    });

    it('refetches jwks_uri for a new kid at most once per cool-down (recipient key rotation)', async () => {
      const fresh = await dcr.seed();
      // The first request caches the recipient's JWKS; the recipient then rotates to a new key.
      const first = await dcr.post(await dcr.requestFor(fresh, { claims: { iss: 'wrong' } }));
      expect(first.status).toBe(400);
      const rotated = await createRecipientKeys({ alg: 'ES256' });
      await register.client.putRecipientJwks(fresh.softwareProductId, rotated.jwks);
      // Within the cool-down an unknown kid costs no fetch: three tries, no request to jwks_uri.
      const fetchesBefore = await recipientJwksFetches();
      for (let i = 0; i < 3; i++) {
        const early = await dcr.post(await dcr.requestFor(fresh, { key: rotated }));
        expect(early.status).toBe(400);
        expect(early.body.error_description).toMatch(/no key/);
      }
      expect(await recipientJwksFetches()).toBe(fetchesBefore);
      await new Promise((resolve) => setTimeout(resolve, REFETCH_COOLDOWN_MS));
      const reply = await dcr.post(await dcr.requestFor(fresh, { key: rotated }));
      expect(reply.status, reply.text).toBe(201);
      expect(await recipientJwksFetches()).toBe(fetchesBefore + 1);
    });

    it('rejects when jwks_uri cannot be fetched or holds no keys, without internal detail', async () => {
      const unreachable = await dcr.seed({ metadata: { jwks_uri: 'https://127.0.0.1:1/jwks' } });
      let reply = await dcr.post(await dcr.requestFor(unreachable));
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
      expect(reply.body.error_description).toBe(
        "the recipient's jwks_uri could not be used: https://127.0.0.1:1/jwks could not be fetched",
      );
      const empty = await dcr.seed();
      await register.client.putRecipientJwks(empty.softwareProductId, { keys: [] }).catch(() => undefined);
      const emptyUri = `${register.url}/cdr-register/v1/recipient-jwks/nothing-hosted-${crypto.randomUUID()}`;
      const missing = await dcr.seed({ metadata: { jwks_uri: emptyUri } });
      reply = await dcr.post(await dcr.requestFor(missing));
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
    });
  });

  it('signs the request with buildRegistrationRequest defaults a conforming holder accepts', async () => {
    const fresh = await dcr.seed();
    const jwt = await buildRegistrationRequest({
      ssa: await fresh.getSsa(),
      audience: dcr.issuer,
      key: fresh.recipient,
    });
    expect((await dcr.post(jwt)).status).toBe(201);
  });
});
