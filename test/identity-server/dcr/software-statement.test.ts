import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecipientKeys, signJwt } from '../../../lib/cdr/recipient.ts';
import { REQUIRED_SSA_CLAIMS } from '../../../lib/cdr/software-statement.ts';
import { type DcrHarness, startHarness } from '../../support/dcr.ts';
import { databaseTargets } from '../../support/dcr-targets.ts';
import { startJwksServer } from '../../support/identity-server.ts';
import {
  forgeSoftwareStatement,
  type SeededProduct,
  seedSoftwareProduct,
  startMockRegister,
  type TestRegister,
} from '../../support/register.ts';

const now = () => Math.floor(Date.now() / 1000);
// Every required claim but `iss` (an SSA without it fails as not the Register's) and `redirect_uris`
// (its own rule, in the redirect URI tests).
const REQUIRED = REQUIRED_SSA_CLAIMS.filter((claim) => claim !== 'iss' && claim !== 'redirect_uris');

describe.each(await databaseTargets())('software statement rules on $name', ({ databaseUrl }) => {
  let register: TestRegister;
  /** A second Register whose keys the identity server trusts for production SSAs. */
  let production: TestRegister;
  let dcr: DcrHarness;
  let product: SeededProduct;
  beforeAll(async () => {
    register = await startMockRegister({ databaseUrl });
    production = await startMockRegister({ pkiDir: register.pki.dir });
    dcr = await startHarness({
      register,
      databaseUrl,
      overrides: { open_banking: { dcr: { jwks_url_production: `${production.url}/cdr-register/v1/jwks` } } },
    });
    product = await dcr.seed();
  });
  afterAll(async () => {
    await dcr?.close();
    await production?.close();
    await register?.close();
  });

  const postWith = async (ssa: string | undefined, target = product) =>
    dcr.post(
      await dcr.requestFor(target, {
        ssa: ssa ?? (await target.getSsa()),
        claims: { software_statement: ssa },
        ...(ssa === undefined ? { omit: ['software_statement'] } : {}),
      }),
    );

  it('rejects a request without a software statement (invalid_client_metadata)', async () => {
    const reply = await postWith(undefined);
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error: 'invalid_client_metadata',
      error_description: 'Required parameter software statement cannot be null',
    });
  });

  it.each([
    ['malformed', 'not-a-jwt'],
    ['three garbage segments', 'aaa.bbb.ccc'],
  ])('rejects a %s SSA', async (_name, ssa) => {
    const reply = await dcr.post(
      await signJwt(
        {
          ...(await requestClaims(dcr, product)),
          software_statement: ssa,
        },
        {},
        product.recipient,
      ),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
  });

  it('rejects an SSA with a tampered signature', async () => {
    const ssa = await product.getSsa();
    const [header, payload, signature] = ssa.split('.') as [string, string, string];
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const reply = await postWith(`${header}.${payload}.${flipped}`);
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
  });

  it('rejects an SSA with tampered claims', async () => {
    const [header, payload, signature] = (await product.getSsa()).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, org_name: 'Forged' })).toString('base64url');
    const reply = await postWith(`${header}.${forged}.${signature}`);
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
  });

  it('rejects an SSA signed by another key, under the Register kid or another', async () => {
    const registerKid = (await register.client.getJwks()).keys[0]!.kid!;
    const impostor = await createRecipientKeys({ alg: 'PS256', kid: registerKid });
    const claims = JSON.parse(Buffer.from((await product.getSsa()).split('.')[1]!, 'base64url').toString());
    for (const key of [impostor, await createRecipientKeys({ alg: 'PS256' })]) {
      const reply = await postWith(await signJwt(claims, { typ: 'JWT' }, key));
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_software_statement');
    }
  });

  it.each(['none', 'HS256', 'ES256'])('rejects an SSA with alg %s', async (alg) => {
    const claims = JSON.parse(Buffer.from((await product.getSsa()).split('.')[1]!, 'base64url').toString());
    const key = await createRecipientKeys({ alg: alg === 'ES256' ? 'ES256' : 'PS256' });
    const reply = await postWith(await signJwt(claims, { alg }, key));
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
  });

  it('rejects an expired SSA and accepts one expiring within the skew', async () => {
    let reply = await postWith(await forgeSoftwareStatement(register, product.product, { now: now() - 700 }));
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid_software_statement' });
    expect(reply.body.error_description).toMatch(/expired/);
    const fresh = await dcr.seed();
    reply = await postWith(
      await forgeSoftwareStatement(register, fresh.product, { now: now() - 630 }),
      fresh,
    );
    expect(reply.status, reply.text).toBe(201);
  });

  it('rejects an SSA whose iss is not cdr-register', async () => {
    const reply = await postWith(
      await forgeSoftwareStatement(register, product.product, { claims: { iss: 'not-the-register' } }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
    expect(reply.body.error_description).toMatch(/CDR Register/);
  });

  it.each(REQUIRED)('rejects an SSA without %s', async (claim) => {
    const ssa = await forgeSoftwareStatement(register, product.product, { omit: [claim] });
    // Without software_id the request's iss cannot match; keep the rule under test the first to fail.
    const reply = await postWith(ssa);
    expect(reply.status, reply.text).toBe(400);
    expect(reply.body.error).toBe('invalid_software_statement');
  });

  it('rejects SSA redirect_uris that are missing, empty or not https (invalid_redirect_uri)', async () => {
    for (const redirect_uris of [undefined, [], ['http://recipient.example/callback']]) {
      const ssa = await forgeSoftwareStatement(register, product.product, {
        claims: { redirect_uris: redirect_uris as string[] },
        ...(redirect_uris === undefined ? { omit: ['redirect_uris'] } : {}),
      });
      const reply = await dcr.post(await dcr.requestFor(product, { ssa, omit: ['redirect_uris'] }));
      expect(reply.status, JSON.stringify(redirect_uris)).toBe(400);
      expect(reply.body.error).toBe('invalid_redirect_uri');
    }
  });

  it('rejects an SSA for another role or without the registration scopes', async () => {
    for (const claims of [
      { software_roles: 'data-holder' },
      { scope: 'openid bank:accounts.basic:read' },
      { scope: 'cdr:registration bank:accounts.basic:read' },
    ]) {
      const reply = await postWith(await forgeSoftwareStatement(register, product.product, { claims }));
      expect(reply.status, JSON.stringify(claims)).toBe(400);
      expect(reply.body.error).toBe('invalid_software_statement');
    }
  });

  it('accepts an SSA without the optional claims', async () => {
    const fresh = await dcr.seed({
      metadata: {
        legal_entity_id: undefined,
        legal_entity_name: undefined,
        tos_uri: undefined,
        policy_uri: undefined,
      },
    });
    const reply = await postWith(await fresh.getSsa(), fresh);
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body).not.toHaveProperty('legal_entity_id');
    expect(reply.body).not.toHaveProperty('tos_uri');
  });

  describe('sandbox and production Register keys by software_environment', () => {
    it('verifies a sandbox SSA with jwks_url_sandbox only', async () => {
      const fresh = await dcr.seed();
      expect((await postWith(await fresh.getSsa(), fresh)).status).toBe(201);
      const signedByProduction = await forgeSoftwareStatement(production, fresh.product);
      const reply = await postWith(signedByProduction, fresh);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_software_statement');
    });

    it('verifies a production SSA with jwks_url_production only', async () => {
      const fresh = await dcr.seed();
      const bySandboxKey = await forgeSoftwareStatement(register, fresh.product, {
        claims: { software_environment: 'production' },
      });
      const rejected = await postWith(bySandboxKey, fresh);
      expect(rejected.status).toBe(400);
      expect(rejected.body.error).toBe('invalid_software_statement');
      const byProductionKey = await forgeSoftwareStatement(production, fresh.product, {
        claims: { software_environment: 'production' },
      });
      const accepted = await postWith(byProductionKey, fresh);
      expect(accepted.status, accepted.text).toBe(201);
    });
  });
});

describe('Register JWKS outage', () => {
  let register: TestRegister;
  let dcr: DcrHarness;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  const products: Array<{ product: SeededProduct; ssa: string }> = [];
  beforeAll(async () => {
    register = await startMockRegister();
    dcr = await startHarness({ register });
    const keys = await createRecipientKeys({ alg: 'PS256' });
    jwks = await startJwksServer(register.pki as never, keys.jwks);
    for (let index = 0; index < 2; index++) {
      const product = await seedSoftwareProduct(register, {
        recipient: keys,
        metadata: { jwks_uri: jwks.url },
      });
      products.push({ product, ssa: await product.getSsa() });
    }
  });
  afterAll(async () => {
    await dcr?.close();
    await jwks?.close();
    await register?.close().catch(() => {});
  });

  it('keeps registering with cached Register keys while the Register is down', async () => {
    const [first, second] = products as [(typeof products)[0], (typeof products)[0]];
    expect((await dcr.post(await dcr.requestFor(first.product, { ssa: first.ssa }))).status).toBe(201);
    await register.register.close();
    const reply = await dcr.post(await dcr.requestFor(second.product, { ssa: second.ssa }));
    expect(reply.status, reply.text).toBe(201);
  });

  it('answers 503 temporarily_unavailable with Retry-After when nothing is cached', async () => {
    const fresh = await startHarness({ register });
    try {
      const again = await seedlessRequest(fresh, products[1]!);
      const before = await fresh.counts();
      const reply = await fresh.post(again);
      expect(reply.status).toBe(503);
      expect(reply.body.error).toBe('temporarily_unavailable');
      expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
      expect(await fresh.counts()).toEqual(before);
    } finally {
      await fresh.close();
    }
  });
});

async function seedlessRequest(
  dcr: DcrHarness,
  entry: { product: SeededProduct; ssa: string },
): Promise<string> {
  return dcr.requestFor(entry.product, { ssa: entry.ssa, claims: { jti: randomUUID() } });
}

async function requestClaims(dcr: DcrHarness, product: SeededProduct): Promise<Record<string, unknown>> {
  const jwt = await dcr.requestFor(product);
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString());
}
