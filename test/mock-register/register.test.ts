import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys } from '../../lib/cdr/recipient.ts';
import { RegisterClientError, type SoftwareProductInput } from '../../lib/cdr/register-client.ts';
import { REQUIRED_SSA_CLAIMS, SOFTWARE_ROLE } from '../../lib/cdr/software-statement.ts';
import { createCertificateAuthority, issueCertificate } from '../../lib/pki/index.ts';
import { postgresTarget } from '../support/database.ts';
import {
  type SeededProduct,
  seedSoftwareProduct,
  startMockRegister,
  type TestRegister,
} from '../support/register.ts';

const target = await postgresTarget();
const backends = [
  { name: 'PGlite', databaseUrl: undefined },
  ...(target ? [{ name: 'PostgreSQL', databaseUrl: target.url }] : []),
];
if (!target) console.log('mock-register on PostgreSQL skipped: OBKIT_TEST_DATABASE_URL unset or unreachable');

/** Status, headers and parsed body of one call, for assertions on what a caller sees on the wire. */
async function call(
  register: TestRegister,
  path: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown; agent?: Agent } = {},
) {
  const agent = init.agent ?? new Agent({ connect: { ca: register.caPem } });
  try {
    const response = await request(`${register.url}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      headers: {
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      body: init.json === undefined ? null : JSON.stringify(init.json),
      dispatcher: agent,
    });
    const text = await response.body.text();
    const body = String(response.headers['content-type']).includes('json') ? JSON.parse(text) : text;
    return { status: response.statusCode, headers: response.headers, body };
  } finally {
    if (!init.agent) await agent.close();
  }
}

function basic(username: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

async function rejection(promise: Promise<unknown>): Promise<RegisterClientError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RegisterClientError);
  return error as RegisterClientError;
}

describe.each(backends)('mock-register on $name', ({ databaseUrl }) => {
  let register: TestRegister;
  let seeded: SeededProduct;

  beforeAll(async () => {
    register = await startMockRegister(databaseUrl ? { databaseUrl } : {});
    seeded = await seedSoftwareProduct(register);
  });
  afterAll(async () => {
    await register?.close();
  });

  describe('SSA issuance', () => {
    it('signs an SSA with PS256 that verifies against the Register JWKS and carries the product metadata', async () => {
      const ssa = await seeded.getSsa();
      const jwks = await register.client.getJwks();
      const { payload, protectedHeader } = await jwtVerify(ssa, createLocalJWKSet(jwks), {
        issuer: 'cdr-register',
        algorithms: ['PS256'],
      });
      expect(protectedHeader).toMatchObject({ alg: 'PS256', typ: 'JWT' });
      expect(jwks.keys.map((key) => key.kid)).toContain(protectedHeader.kid);
      expect(payload.exp! - payload.iat!).toBe(600);
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(30);
      expect(payload.software_environment).toBe('sandbox');
      for (const claim of REQUIRED_SSA_CLAIMS) expect(payload, claim).toHaveProperty(claim);
      expect(payload).toMatchObject({
        ...seeded.product.metadata,
        software_id: seeded.softwareProductId,
        software_roles: SOFTWARE_ROLE,
      });
      const again = await seeded.getSsa();
      expect((await jwtVerify(again, createLocalJWKSet(jwks))).payload.jti).not.toBe(payload.jti);
    });

    it('answers application/jwt', async () => {
      const response = await call(register, new URL(register.client.ssaUrl(seeded)).pathname, {
        agent: new Agent({
          connect: {
            ca: register.caPem,
            cert: await readFile(register.pki.clientCertificate),
            key: await readFile(register.pki.clientKey),
          },
        }),
      });
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/jwt/);
      expect(decodeProtectedHeader(response.body as string).alg).toBe('PS256');
    });

    it('publishes public keys only, each with kid, alg PS256 and use sig', async () => {
      const { keys } = await register.client.getJwks();
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        expect(key).toMatchObject({ kty: 'RSA', alg: 'PS256', use: 'sig' });
        expect(key.kid).toBeTruthy();
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(member);
      }
    });

    it('answers 404 in the Register error shape for an unknown product or a product of another brand', async () => {
      const unknown = await rejection(
        register.client.getSsa({ brandId: seeded.brandId, softwareProductId: 'no-such-product' }),
      );
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({
        errors: [
          {
            code: 'urn:au-cds:error:cds-all:Resource/NotFound',
            title: 'Resource Not Found',
            detail: expect.any(String),
          },
        ],
      });
      const otherBrand = await rejection(
        register.client.getSsa({ brandId: 'another-brand', softwareProductId: seeded.softwareProductId }),
      );
      expect(otherBrand.status).toBe(404);
      const otherIndustry = await rejection(register.client.getSsa({ ...seeded, industry: 'energy' }));
      expect(otherIndustry.status).toBe(404);
    });

    it.each([
      [{ status: 'INACTIVE' }, 'Software product status is INACTIVE'],
      [{ status: 'REMOVED' }, 'Software product status is REMOVED'],
      [{ brandStatus: 'INACTIVE' }, 'Brand status is INACTIVE'],
      [{ dataRecipientStatus: 'SUSPENDED' }, 'Data recipient status is SUSPENDED'],
    ] as const)('refuses an SSA with 403 when %o, and issues again once ACTIVE', async (change, detail) => {
      const product = await seedSoftwareProduct(register);
      await register.client.setSoftwareProductStatus(product.softwareProductId, change);
      const refused = await rejection(product.getSsa());
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({
        errors: [
          {
            code: 'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive',
            title: 'ADR Status Is Not Active',
            detail,
          },
        ],
      });
      await register.client.setSoftwareProductStatus(product.softwareProductId, {
        status: 'ACTIVE',
        brandStatus: 'ACTIVE',
        dataRecipientStatus: 'ACTIVE',
      });
      await expect(product.getSsa()).resolves.toMatch(/^ey/);
    });

    it('refuses an SSA without a client certificate', async () => {
      const anonymous = register.clientWith({ clientCertificate: null });
      const refused = await rejection(anonymous.getSsa(seeded));
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({
        errors: [{ code: 'urn:au-cds:error:cds-all:Authorisation/Unauthorized' }],
      });
    });

    it('refuses an SSA to a client certificate from a CA outside the truststore', async () => {
      const rogueCa = await createCertificateAuthority('rogue CA');
      const rogue = await issueCertificate(rogueCa, { commonName: 'rogue-adr', usage: 'client' });
      const client = register.clientWith({
        clientCertificate: { certificate: rogue.certificatePem, key: rogue.keyPem },
      });
      expect((await rejection(client.getSsa(seeded))).status).toBe(401);
    });
  });

  describe('admin API', () => {
    it('requires the admin Basic credential: none, wrong password or wrong user → 401', async () => {
      const path = '/admin/software-products';
      const none = await call(register, path);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
      expect(none.body).toMatchObject({
        errors: [{ code: 'urn:au-cds:error:cds-all:Authorisation/Unauthorized' }],
      });
      expect(
        (await call(register, path, { headers: basic('admin', `${register.admin.password}x`) })).status,
      ).toBe(401);
      expect((await call(register, path, { headers: basic('root', register.admin.password) })).status).toBe(
        401,
      );
      expect((await call(register, path, { headers: { authorization: 'Bearer abc' } })).status).toBe(401);
      const wrong = register.clientWith({ admin: { username: 'admin', password: 'guess' } });
      expect((await rejection(wrong.putRecipientJwks('x', { keys: [] }))).status).toBe(401);
      expect((await rejection(wrong.rotateSigningKey())).status).toBe(401);
      expect((await call(register, path, { headers: basic('admin', register.admin.password) })).status).toBe(
        200,
      );
    });

    it('creates, reports unchanged, updates, reads and lists software products idempotently', async () => {
      const input: SoftwareProductInput = { brandId: 'brand-put', metadata: seeded.product.metadata };
      const created = await register.client.putSoftwareProduct('product-put', input);
      expect(created.outcome).toBe('created');
      expect(created.product).toMatchObject({
        softwareProductId: 'product-put',
        brandId: 'brand-put',
        industry: 'banking',
        status: 'ACTIVE',
        brandStatus: 'ACTIVE',
        dataRecipientStatus: 'ACTIVE',
      });
      const same = await register.client.putSoftwareProduct('product-put', input);
      expect(same.outcome).toBe('unchanged');
      expect(same.product.updatedAt).toBe(created.product.updatedAt);
      const renamed = { ...input, metadata: { ...input.metadata, client_name: 'Renamed' } };
      const updated = await register.client.putSoftwareProduct('product-put', renamed);
      expect(updated.outcome).toBe('updated');
      expect(updated.product.createdAt).toBe(created.product.createdAt);
      expect((await register.client.getSoftwareProduct('product-put')).metadata.client_name).toBe('Renamed');
      const ids = (await register.client.listSoftwareProducts()).map((product) => product.softwareProductId);
      expect(ids).toEqual(expect.arrayContaining(['product-put', seeded.softwareProductId]));
      expect((await rejection(register.client.getSoftwareProduct('missing'))).status).toBe(404);
      expect(
        (await rejection(register.client.setSoftwareProductStatus('missing', { status: 'ACTIVE' }))).status,
      ).toBe(404);
    });

    it.each([
      ['an http redirect URI', { redirect_uris: ['http://recipient.example/cb'] }, 'redirect_uris'],
      ['no redirect URIs', { redirect_uris: [] }, 'redirect_uris'],
      ['an http jwks_uri', { jwks_uri: 'http://recipient.example/jwks' }, 'jwks_uri'],
      ['a relative logo_uri', { logo_uri: '/logo.png' }, 'logo_uri'],
      ['a scope without cdr:registration', { scope: 'openid bank:accounts.basic:read' }, 'scope'],
      ['a scope without openid', { scope: 'cdr:registration' }, 'scope'],
      ['software_id (it is the product ID)', { software_id: 'other' }, 'software_id'],
      ['a missing org_name', { org_name: undefined }, 'org_name'],
    ])('rejects a product with %s with 400', async (_case, change, field) => {
      const metadata = { ...seeded.product.metadata, ...change };
      const refused = await rejection(
        register.client.putSoftwareProduct('product-bad', { brandId: 'b', metadata } as never),
      );
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ errors: [{ code: 'urn:au-cds:error:cds-all:Field/Invalid' }] });
      expect(JSON.stringify(refused.body)).toContain(field);
      expect((await rejection(register.client.getSoftwareProduct('product-bad'))).status).toBe(404);
    });

    it('rejects an unknown status', async () => {
      const refused = await call(register, `/admin/software-products/${seeded.softwareProductId}/status`, {
        method: 'PUT',
        headers: basic(register.admin.username, register.admin.password),
        json: { status: 'SLEEPING' },
      });
      expect(refused.status).toBe(400);
    });
  });

  describe('hosted recipient documents', () => {
    it('serves the hosted public JWKS and the sector identifier document', async () => {
      const jwks = await call(register, `/cdr-register/v1/recipient-jwks/${seeded.softwareProductId}`);
      expect(jwks.status).toBe(200);
      expect(jwks.body).toEqual(seeded.recipient.jwks);
      const sector = await call(register, `/cdr-register/v1/sector-identifiers/${seeded.softwareProductId}`);
      expect(sector.body).toEqual(seeded.redirectUris);
      expect((await call(register, '/cdr-register/v1/recipient-jwks/nobody')).status).toBe(404);
      expect((await call(register, '/cdr-register/v1/sector-identifiers/nobody')).status).toBe(404);
    });

    it('reports an unchanged JWKS as unchanged and a replaced one as updated', async () => {
      expect(await register.client.putRecipientJwks(seeded.softwareProductId, seeded.recipient.jwks)).toBe(
        'unchanged',
      );
      const next = await createRecipientKeys({ alg: 'ES256' });
      expect(await register.client.putRecipientJwks('jwks-update', next.jwks)).toBe('created');
      expect(await register.client.putRecipientJwks('jwks-update', seeded.recipient.jwks)).toBe('updated');
    });

    it.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])(
      'rejects a JWKS carrying the private member %s',
      async (member) => {
        const keys = await createRecipientKeys();
        const leaked = { ...keys.publicJwk, [member]: keys.privateJwk.d };
        const refused = await rejection(register.client.putRecipientJwks('leaky', { keys: [leaked] }));
        expect(refused.status).toBe(400);
        expect(JSON.stringify(refused.body)).toContain('private key members');
        expect((await call(register, '/cdr-register/v1/recipient-jwks/leaky')).status).toBe(404);
      },
    );

    it('rejects a whole private JWK as produced by a key export', async () => {
      const keys = await createRecipientKeys();
      expect(
        (await rejection(register.client.putRecipientJwks('leaky', { keys: [keys.privateJwk] }))).status,
      ).toBe(400);
    });
  });

  describe('signing key rotation', () => {
    it('signs with a new key and keeps the previous kid published, so earlier SSAs still verify', async () => {
      const before = await seeded.getSsa();
      const oldKid = decodeProtectedHeader(before).kid;
      const rotated = await register.client.rotateSigningKey();
      expect(rotated.kid).not.toBe(oldKid);
      expect(rotated.published).toEqual(expect.arrayContaining([rotated.kid, oldKid]));
      const after = await seeded.getSsa();
      expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
      const jwks = createLocalJWKSet(await register.client.getJwks());
      await expect(jwtVerify(before, jwks)).resolves.toBeDefined();
      await expect(jwtVerify(after, jwks)).resolves.toBeDefined();
    });
  });

  describe('operations', () => {
    it('reports readiness with the database check and serves Prometheus metrics on the management port', async () => {
      const management = { ...register, url: register.managementUrl };
      const ready = await call(management, '/health/ready');
      expect(ready).toMatchObject({ status: 200, body: { status: 'UP', checks: { database: 'UP' } } });
      expect((await call(management, '/health/live')).status).toBe(200);
      const metrics = await call(management, '/metrics');
      expect(metrics.body).toContain('obkit_http_requests_total');
      for (const path of ['/health/live', '/health/ready', '/metrics']) {
        expect((await call(register, path)).status, path).toBe(404);
      }
    });
  });
});
