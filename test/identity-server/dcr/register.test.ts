import { readFile } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DcrHarness, REGISTRATION_PATH, startHarness } from '../../support/dcr.ts';
import { databaseTargets } from '../../support/dcr-targets.ts';
import { issueNonconformingCertificate } from '../../support/pki.ts';
import { startMockRegister, type TestRegister } from '../../support/register.ts';

describe.each(await databaseTargets())('POST /register on $name', ({ databaseUrl }) => {
  let register: TestRegister;
  let dcr: DcrHarness;
  beforeAll(async () => {
    register = await startMockRegister({ databaseUrl });
    dcr = await startHarness({ register, databaseUrl });
  });
  afterAll(async () => {
    await dcr?.close();
    await register?.close();
  });

  it('registers a recipient over mutual TLS and answers 201 with the client', async () => {
    const product = await dcr.seed();
    const ssa = await product.getSsa();
    const reply = await dcr.post(await dcr.requestFor(product, { ssa }));
    expect(reply.status, reply.text).toBe(201);
    const client = reply.body;
    expect(client.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs((client.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(60);
    // The SSA comes back byte for byte, its metadata at the top level.
    expect(client.software_statement).toBe(ssa);
    const claims = decodeJwt(ssa);
    for (const name of [
      'org_id',
      'org_name',
      'client_name',
      'client_description',
      'client_uri',
      'logo_uri',
    ]) {
      expect(client[name], name).toBe(claims[name]);
    }
    for (const name of [
      'jwks_uri',
      'revocation_uri',
      'recipient_base_uri',
      'software_id',
      'software_roles',
    ]) {
      expect(client[name], name).toBe(claims[name]);
    }
    expect(client.legal_entity_id).toBe(claims.legal_entity_id);
    expect(client.redirect_uris).toEqual(claims.redirect_uris);
    // The request's metadata, with defaults.
    expect(client).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'PS256',
      authorization_signed_response_alg: 'PS256',
      application_type: 'web',
    });
  });

  it('stores oidc-provider metadata, the render extras and the SSA separately', async () => {
    const { client } = await dcr.registered();
    const { rows } = await dcr.db.query<{
      source: string;
      software_id: string;
      metadata: Record<string, unknown>;
      registration: Record<string, unknown>;
      software_statement: string;
    }>(
      'SELECT source, software_id, metadata, registration, software_statement FROM clients WHERE client_id = $1',
      [client.client_id],
    );
    const row = rows[0]!;
    expect(row.source).toBe('cdr-dcr');
    expect(row.software_id).toBe(client.software_id);
    expect(row.software_statement).toBe(client.software_statement);
    expect(row.metadata).toMatchObject({
      client_id: client.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: client.jwks_uri,
      redirect_uris: client.redirect_uris,
      tls_client_certificate_bound_access_tokens: true,
    });
    expect(row.metadata).not.toHaveProperty('org_id');
    expect(row.metadata).not.toHaveProperty('software_statement');
    expect(row.registration).toMatchObject({ org_id: client.org_id, software_id: client.software_id });
  });

  it('defaults request_object_signing_alg to PS256 and application_type to web', async () => {
    const product = await dcr.seed();
    const jwt = await dcr.requestFor(product, {
      claims: { request_object_signing_alg: undefined, application_type: undefined },
    });
    const reply = await dcr.post(jwt);
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.request_object_signing_alg).toBe('PS256');
    expect(reply.body.application_type).toBe('web');
  });

  it('keeps ES256 when the request asks for it', async () => {
    const product = await dcr.seed({ alg: 'ES256' });
    const reply = await dcr.post(
      await dcr.requestFor(product, { claims: { request_object_signing_alg: 'ES256' } }),
    );
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.request_object_signing_alg).toBe('ES256');
    expect(reply.body.token_endpoint_auth_signing_alg).toBe('ES256');
  });

  it('ignores unknown request claims and never echoes them', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(
      await dcr.requestFor(product, {
        claims: { favourite_colour: 'green', contacts: ['a@b.c'], admin: true },
      }),
    );
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body).not.toHaveProperty('favourite_colour');
    expect(reply.body).not.toHaveProperty('contacts');
    expect(reply.body).not.toHaveProperty('admin');
    expect(reply.body).not.toHaveProperty('jti');
    expect(reply.body).not.toHaveProperty('aud');
  });

  it('drops scopes the Data Holder does not serve, silently', async () => {
    const product = await dcr.seed({
      metadata: {
        scope:
          'openid cdr:registration bank:accounts.basic:read energy:electricity.servicepoints.basic:read telco:billing:read',
      },
    });
    const reply = await dcr.post(await dcr.requestFor(product));
    expect(reply.status, reply.text).toBe(201);
    expect((reply.body.scope as string).split(' ').sort()).toEqual(
      ['bank:accounts.basic:read', 'cdr:registration', 'openid'].sort(),
    );
  });

  it('keeps a scope created through the scopes API in the very next registration', async () => {
    // A first registration reads (and caches) the served scopes.
    const first = await dcr.post(await dcr.requestFor(await dcr.seed()));
    expect(first.status, first.text).toBe(201);
    const created = await dcr.call('POST', '/api/identity/oauth2/v1.0/scopes', {
      headers: { authorization: dcr.server.adminAuthorization },
      contentType: 'application/json',
      body: JSON.stringify({
        name: 'bank:obkit-test:read',
        displayName: 'Test',
        description: '',
        bindings: [],
      }),
    });
    expect(created.status, created.text).toBe(201);
    const product = await dcr.seed({ metadata: { scope: 'openid cdr:registration bank:obkit-test:read' } });
    const reply = await dcr.post(await dcr.requestFor(product));
    expect(reply.status, reply.text).toBe(201);
    expect((reply.body.scope as string).split(' ')).toContain('bank:obkit-test:read');
  });

  it('takes unmodifiable metadata from the SSA whatever the request says', async () => {
    const product = await dcr.seed();
    const ssa = await product.getSsa();
    const claims = decodeJwt(ssa);
    const reply = await dcr.post(
      await dcr.requestFor(product, {
        ssa,
        claims: {
          org_id: 'forged-org',
          software_roles: 'data-holder',
          legal_entity_id: 'forged-entity',
          legal_entity_name: 'Forged Pty Ltd',
          client_name: 'Forged name',
          jwks_uri: 'https://attacker.example/jwks',
        },
      }),
    );
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body).toMatchObject({
      iss: 'cdr-register',
      org_id: claims.org_id,
      software_id: claims.software_id,
      software_roles: 'data-recipient-software-product',
      legal_entity_id: claims.legal_entity_id,
      legal_entity_name: claims.legal_entity_name,
      client_name: claims.client_name,
      jwks_uri: claims.jwks_uri,
    });
  });

  it('refuses a body that is not application/jwt with 415', async () => {
    const product = await dcr.seed();
    const jwt = await dcr.requestFor(product);
    for (const contentType of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      const body = contentType === 'application/json' ? JSON.stringify({ jwt }) : jwt;
      const reply = await dcr.post(body, { contentType });
      expect(reply.status, contentType).toBe(415);
      expect(reply.body.error).toBe('invalid_request');
    }
    expect((await dcr.post(jwt, { contentType: 'application/jwt; charset=utf-8' })).status).toBe(201);
  });

  it('requires a client transport certificate (401 invalid_client)', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(await dcr.requestFor(product), { certificate: null });
    expect(reply.status).toBe(401);
    expect(reply.body.error).toBe('invalid_client');
  });

  it('refuses a trusted certificate without the clientAuth extended key usage (401 invalid_client)', async () => {
    const product = await dcr.seed();
    const issuing = {
      certificatePem: await readFile(register.pki.issuingCaCertificate, 'utf8'),
      keyPem: await readFile(register.pki.issuingCaKey, 'utf8'),
    };
    const noEku = await issueNonconformingCertificate(issuing, 'dcr-no-eku', {
      name: 'dcr-no-eku',
      extendedKeyUsages: null,
    });
    const reply = await dcr.post(await dcr.requestFor(product), {
      certificate: { certificate: noEku.certificatePem, key: noEku.keyPem },
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error).toBe('invalid_client');
  });

  it('ignores a forwarded certificate header from a caller that is not the gateway', async () => {
    const product = await dcr.seed();
    const reply = await dcr.post(await dcr.requestFor(product), {
      certificate: null,
      headers: { 'x-wso2-mutual-auth-cert': encodeURIComponent(dcr.certificate.certificate) },
    });
    expect(reply.status).toBe(401);
  });

  it('answers 405 with Allow for other methods', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const reply = await dcr.call(method, REGISTRATION_PATH);
      expect(reply.status, method).toBe(405);
      expect(reply.headers.allow).toBe('POST');
    }
    const reply = await dcr.call('PATCH', `${REGISTRATION_PATH}/some-client`, { body: 'x' });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, PUT, DELETE');
    expect((await dcr.call('POST', `${REGISTRATION_PATH}/some-client`)).status).toBe(405);
  });
});
