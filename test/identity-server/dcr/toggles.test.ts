import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DcrHarness, REGISTRATION_PATH, startHarness } from '../../support/dcr.ts';
import { wso2Reference } from '../../support/reference.ts';
import type { SeedOptions } from '../../support/register.ts';
import { startMockRegister, type TestRegister } from '../../support/register.ts';
import { type StaticSite, startStaticSite } from '../../support/static-site.ts';

/** WSO2's reference deployment.toml of the CDS toolkit, read where the workspace provides it. */
const WSO2_TOML = wso2Reference('wso2is-6.0.0-deployment-cds.toml');
const OTHER_AUDIENCE = 'https://dh.example/oauth2/token';

describe('[open_banking_cds.dcr] toggles', () => {
  let register: TestRegister;
  let site: StaticSite;
  /** WSO2's defaults. */
  let defaults: DcrHarness;
  /** Every toggle flipped from its default. */
  let flipped: DcrHarness;
  beforeAll(async () => {
    register = await startMockRegister();
    site = await startStaticSite(register.pki);
    for (const path of ['/', '/logo.png', '/terms', '/policy'])
      site.pages.set(path, { status: 200, body: 'ok' });
    defaults = await startHarness({ register });
    flipped = await startHarness({
      register,
      overrides: {
        open_banking_cds: {
          dcr: {
            enable_redirect_uri_hostname_validation: false,
            enable_hostname_validation: true,
            enable_uri_validation: true,
            enable_sector_identifier_uri_validation: true,
            request_jti_validation_enabled: false,
            ssa_jti_validation_enabled: true,
            enable_hybrid_flow: true,
          },
        },
      },
    });
  });
  afterAll(async () => {
    await flipped?.close();
    await defaults?.close();
    await site?.close();
    await register?.close();
  });

  /** A product whose pages live on the static site (so URI validation can reach them). */
  const onSite = (dcr: DcrHarness, options: SeedOptions = {}) => dcr.seed({ host: site.host, ...options });
  const register201 = async (dcr: DcrHarness, options: SeedOptions = {}) => {
    const product = await onSite(dcr, options);
    return dcr.post(await dcr.requestFor(product));
  };

  describe('enable_redirect_uri_hostname_validation', () => {
    const twoHosts = () => ({
      metadata: {
        redirect_uris: [`https://${site.host}/callback`, `https://localhost:${site.host.split(':')[1]}/cb`],
      },
    });
    it('on (default): rejects SSA redirect URIs on several hosts', async () => {
      const reply = await register201(defaults, twoHosts());
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
      expect(reply.body.error_description).toMatch(/redirect URI hostname validation/);
      expect((await register201(defaults)).status).toBe(201);
    });
    it('off: accepts them', async () => {
      site.pages.set('/sector', { status: 200, body: twoHosts().metadata.redirect_uris });
      const reply = await register201(flipped, {
        ...twoHosts(),
        metadata: { ...twoHosts().metadata, sector_identifier_uri: `${site.origin}/sector` },
      });
      expect(reply.status, reply.text).toBe(201);
    });
  });

  describe('enable_hostname_validation', () => {
    const logoElsewhere = () => ({
      metadata: { logo_uri: `https://localhost:${site.host.split(':')[1]}/logo.png` },
    });
    it('on: rejects a logo/client/policy/tos URI on another host than the redirect URIs', async () => {
      const reply = await register201(flipped, logoElsewhere());
      expect(reply.status).toBe(400);
      expect(reply.body.error_description).toMatch(/hostname validation failed: logo_uri/);
      expect((await register201(flipped)).status).toBe(201);
    });
    it('off (default): accepts it', async () => {
      expect((await register201(defaults, logoElsewhere())).status).toBe(201);
    });
  });

  describe('enable_uri_validation', () => {
    const brokenPolicy = () => ({ metadata: { policy_uri: `${site.origin}/missing-policy` } });
    it('on: rejects a URI that does not answer 200', async () => {
      const reply = await register201(flipped, brokenPolicy());
      expect(reply.status).toBe(400);
      expect(reply.body.error_description).toMatch(/URI validation failed: policy_uri/);
      const unreachable = await register201(flipped, {
        metadata: { tos_uri: `https://${site.host.split(':')[0]}:1/terms` },
      });
      expect(unreachable.status).toBe(400);
      expect(site.requests).toContain('/missing-policy');
    });
    it('off (default): does not fetch them', async () => {
      site.requests.length = 0;
      expect((await register201(defaults, brokenPolicy())).status).toBe(201);
      expect(site.requests).not.toContain('/missing-policy');
    });
  });

  describe('enable_sector_identifier_uri_validation', () => {
    it('on: every redirect URI must be listed at sector_identifier_uri', async () => {
      site.pages.set('/sector-partial', { status: 200, body: [`https://${site.host}/callback`] });
      const partial = await register201(flipped, {
        metadata: { sector_identifier_uri: `${site.origin}/sector-partial` },
      });
      expect(partial.status).toBe(400);
      expect(partial.body.error_description).toMatch(/sector identifier/);
      site.pages.set('/sector-full', {
        status: 200,
        body: [`https://${site.host}/callback`, `https://${site.host}/callback/second`],
      });
      const full = await register201(flipped, {
        metadata: { sector_identifier_uri: `${site.origin}/sector-full` },
      });
      expect(full.status, full.text).toBe(201);
      // The Register's own sector identifier document lists the product's redirect URIs.
      expect((await register201(flipped, { sectorIdentifier: true })).status).toBe(201);
    });
    it('off (default): not fetched', async () => {
      const reply = await register201(defaults, {
        metadata: { sector_identifier_uri: `${site.origin}/no-such-sector` },
      });
      expect(reply.status).toBe(201);
    });
  });

  describe('request_jti_validation_enabled', () => {
    it('off: request jtis are neither recorded nor checked', async () => {
      const product = await onSite(flipped);
      const jwt = await flipped.requestFor(product);
      expect((await flipped.post(jwt)).status).toBe(201);
      const reply = await flipped.post(jwt);
      expect(reply.status).toBe(400);
      // Rejected for its reused SSA jti (that toggle is on here), never as a replayed request.
      expect(reply.body.error_description).not.toBe(
        'JTI value of the registration request has been replayed',
      );
      const recorded = await flipped.db.query(`SELECT 1 FROM seen_jtis WHERE purpose = 'dcr-request'`);
      expect(recorded.rows).toHaveLength(0);
    });
    it('on (default): the replay is named', async () => {
      const product = await onSite(defaults);
      const jwt = await defaults.requestFor(product);
      expect((await defaults.post(jwt)).status).toBe(201);
      expect((await defaults.post(jwt)).body.error_description).toBe(
        'JTI value of the registration request has been replayed',
      );
    });
  });

  describe('ssa_jti_validation_enabled', () => {
    const registerDeleteRegister = async (dcr: DcrHarness) => {
      const product = await onSite(dcr);
      const ssa = await product.getSsa();
      const created = await dcr.post(await dcr.requestFor(product, { ssa }));
      expect(created.status, created.text).toBe(201);
      const clientId = created.body.client_id as string;
      const token = await dcr.accessToken(clientId, product);
      const deleted = await dcr.call('DELETE', `${REGISTRATION_PATH}/${clientId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(deleted.status).toBe(204);
      return dcr.post(await dcr.requestFor(product, { ssa }));
    };
    it('on: an SSA is accepted once', async () => {
      const reply = await registerDeleteRegister(flipped);
      expect(reply.status).toBe(400);
      expect(reply.body.error_description).toBe('JTI value of the software statement has been replayed');
    });
    it('off (default): the same SSA may be used again', async () => {
      expect((await registerDeleteRegister(defaults)).status).toBe(201);
    });
  });

  describe('enable_hybrid_flow (obkit)', () => {
    const hybrid = {
      response_types: ['code id_token'],
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    };
    it('on: accepts code id_token with id_token encryption', async () => {
      const product = await onSite(flipped);
      const reply = await flipped.post(await flipped.requestFor(product, { claims: hybrid }));
      expect(reply.status, reply.text).toBe(201);
      expect(reply.body).toMatchObject(hybrid);
      const encOnly = await flipped.post(
        await flipped.requestFor(await onSite(flipped), {
          claims: { ...hybrid, id_token_encrypted_response_alg: undefined },
        }),
      );
      expect(encOnly.status).toBe(400);
    });
    it('off (default): rejects code id_token', async () => {
      const reply = await defaults.post(
        await defaults.requestFor(await onSite(defaults), { claims: hybrid }),
      );
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
    });
  });
});

describe('[open_banking.dcr.registration.*] overrides (WSO2 reference values)', () => {
  let register: TestRegister;
  let dcr: DcrHarness;
  beforeAll(async () => {
    const reference = existsSync(WSO2_TOML)
      ? (
          parseToml(readFileSync(WSO2_TOML, 'utf8')) as {
            open_banking: { dcr: { registration: Record<string, unknown> } };
          }
        ).open_banking.dcr.registration
      : { authorization_signed_response_alg: { required: true, allowed_values: ['PS256'] } };
    register = await startMockRegister();
    dcr = await startHarness({
      register,
      overrides: {
        open_banking: {
          dcr: {
            registration: {
              ...reference,
              audience: { allowed_values: [OTHER_AUDIENCE] },
              // An attempt to widen what obkit supports: ignored.
              id_token_signed_response_alg: { allowed_values: ['none', 'PS256'] },
            },
          },
        },
      },
    });
  });
  afterAll(async () => {
    await dcr?.close();
    await register?.close();
  });

  it('narrows authorization_signed_response_alg to PS256', async () => {
    const product = await dcr.seed();
    const es256 = await dcr.post(
      await dcr.requestFor(product, {
        audience: OTHER_AUDIENCE,
        claims: { authorization_signed_response_alg: 'ES256' },
      }),
    );
    expect(es256.status).toBe(400);
    expect(es256.body.error_description).toMatch(/authorization_signed_response_alg/);
    expect((await dcr.post(await dcr.requestFor(product, { audience: OTHER_AUDIENCE }))).status).toBe(201);
  });

  it('replaces the audience with the configured values', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(await dcr.requestFor(product, { audience: dcr.issuer }));
    expect(reply.status).toBe(400);
    expect(reply.body.error_description).toBe('Invalid audience provided');
  });

  it('never widens the supported values', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(
      await dcr.requestFor(product, {
        audience: OTHER_AUDIENCE,
        claims: { id_token_signed_response_alg: 'none' },
      }),
    );
    expect(reply.status).toBe(400);
  });
});

describe('outbound fetches without private addresses (SSRF guard)', () => {
  let register: TestRegister;
  let dcr: DcrHarness;
  beforeAll(async () => {
    register = await startMockRegister();
    dcr = await startHarness({ register, overrides: { obkit: { allow_private_addresses: false } } });
  });
  afterAll(async () => {
    await dcr?.close();
    await register?.close();
  });

  it('refuses a recipient jwks_uri on loopback, while the configured Register is still trusted', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(await dcr.requestFor(product));
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_client_metadata');
    expect(reply.body.error_description).toMatch(/not an allowed destination \(not a public address\)/);
    const literal = await dcr.seed({
      metadata: { jwks_uri: product.jwksUri.replace('localhost', '127.0.0.1') },
    });
    expect((await dcr.post(await dcr.requestFor(literal))).body.error_description).toMatch(
      /not an allowed destination/,
    );
  });
});
