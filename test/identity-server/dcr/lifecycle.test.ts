import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../../lib/cdr/recipient.ts';
import { certificateThumbprint } from '../../../lib/http/certificate-thumbprint.ts';
import { encodeCertificateHeader } from '../../../lib/http/forwarded-certificate.ts';
import { type Certificate, type DcrHarness, REGISTRATION_PATH, startHarness } from '../../support/dcr.ts';
import { databaseTargets } from '../../support/dcr-targets.ts';
import { startMockRegister, type TestRegister } from '../../support/register.ts';

const DUPLICATE = 'Duplicate registrations for a given software_id are not valid';
const REPLAYED = 'JTI value of the registration request has been replayed';

describe.each(await databaseTargets())('registration lifecycle on $name', ({ databaseUrl }) => {
  let register: TestRegister;
  let dcr: DcrHarness;
  let gateway: Certificate;
  beforeAll(async () => {
    register = await startMockRegister({ databaseUrl });
    dcr = await startHarness({ register, databaseUrl });
    gateway = {
      certificate: await readFile(register.pki.gatewayInternalCertificate, 'utf8'),
      key: await readFile(register.pki.gatewayInternalKey, 'utf8'),
    };
  });
  afterAll(async () => {
    await dcr?.close();
    await register?.close();
  });

  describe('replay and duplicates', () => {
    it('rejects a replayed request jti', async () => {
      const product = await dcr.seed();
      const jwt = await dcr.requestFor(product);
      expect((await dcr.post(jwt)).status).toBe(201);
      const before = await dcr.counts();
      const reply = await dcr.post(jwt);
      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid_client_metadata', error_description: REPLAYED });
      expect(await dcr.counts()).toEqual(before);
    });

    it('rejects a second registration of a software_id and persists nothing for it', async () => {
      const { product } = await dcr.registered();
      const jwt = await dcr.requestFor(product);
      const before = await dcr.counts();
      const reply = await dcr.post(jwt);
      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid_client_metadata', error_description: DUPLICATE });
      expect(await dcr.counts()).toEqual(before);
      // Its jti was rolled back with the rest: the same request is a duplicate again, not a replay.
      expect((await dcr.post(jwt)).body.error_description).toBe(DUPLICATE);
    });

    it('makes exactly one client out of 10 concurrent registrations of one software_id', async () => {
      const product = await dcr.seed();
      const ssa = await product.getSsa();
      const requests = await Promise.all(Array.from({ length: 10 }, () => dcr.requestFor(product, { ssa })));
      const before = await dcr.counts();
      const replies = await Promise.all(requests.map((jwt) => dcr.post(jwt)));
      const statuses = replies.map((reply) => reply.status).sort();
      expect(statuses).toEqual([201, ...Array(9).fill(400)]);
      for (const reply of replies.filter((each) => each.status === 400)) {
        expect(reply.body).toEqual({ error: 'invalid_client_metadata', error_description: DUPLICATE });
      }
      const rows = await dcr.db.query('SELECT client_id FROM clients WHERE software_id = $1', [
        product.softwareProductId,
      ]);
      expect(rows.rows).toHaveLength(1);
      expect(await dcr.counts()).toEqual({ clients: before.clients + 1, jtis: before.jtis + 1 });
    });
  });

  describe('GET /register/{ClientId}', () => {
    it('returns the registration to its client with a certificate-bound cdr:registration token', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product);
      const reply = await dcr.call('GET', `${REGISTRATION_PATH}/${client.client_id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toEqual(client);
    });

    it('answers 401 invalid_token without, with a malformed, or with an expired token', async () => {
      const { product, client } = await dcr.registered();
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const expired = await forgeAccessToken(dcr, client.client_id as string, dcr.certificate, -60);
      for (const authorization of [undefined, 'Bearer not-a-token', `Bearer ${expired}`]) {
        const reply = await dcr.call('GET', path, { headers: authorization ? { authorization } : {} });
        expect(reply.status, authorization).toBe(401);
        expect(reply.body.error).toBe('invalid_token');
        expect(reply.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
      }
      // The same forged construction with a live expiry is accepted: the expiry is what failed above.
      const live = await forgeAccessToken(dcr, client.client_id as string, dcr.certificate, 300);
      const reply = await dcr.call('GET', path, { headers: { authorization: `Bearer ${live}` } });
      expect(reply.status, reply.text).toBe(200);
      expect(product).toBeDefined();
    });

    it('answers 401 invalid_token for a revoked token', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product);
      const assertion = await buildClientAssertion({
        clientId: client.client_id as string,
        audience: dcr.issuer,
        key: product.recipient,
      });
      const revoked = await dcr.call('POST', '/oauth2/revoke', {
        contentType: 'application/x-www-form-urlencoded',
        body: new URLSearchParams({
          token,
          client_id: client.client_id as string,
          ...clientAssertionFields(assertion),
        }).toString(),
      });
      expect(revoked.status, revoked.text).toBe(200);
      const reply = await dcr.call('GET', `${REGISTRATION_PATH}/${client.client_id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(401);
      expect(reply.body.error).toBe('invalid_token');
    });

    it('answers 401 invalid_token when the token is presented with another certificate or none', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product);
      for (const certificate of [dcr.otherCertificate, null]) {
        const reply = await dcr.call('GET', `${REGISTRATION_PATH}/${client.client_id}`, {
          certificate,
          headers: { authorization: `Bearer ${token}` },
        });
        expect(reply.status).toBe(401);
        expect(reply.body.error).toBe('invalid_token');
      }
    });

    it('answers 403 insufficient_scope for a token without cdr:registration', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product, {
        scope: 'bank:accounts.basic:read',
      });
      const reply = await dcr.call('GET', `${REGISTRATION_PATH}/${client.client_id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(403);
      expect(reply.body.error).toBe('insufficient_scope');
    });

    it("answers 401 invalid_client for another client's or an unknown ClientId", async () => {
      const mine = await dcr.registered();
      const theirs = await dcr.registered();
      const token = await dcr.accessToken(mine.client.client_id as string, mine.product);
      for (const id of [theirs.client.client_id, 'no-such-client']) {
        const reply = await dcr.call('GET', `${REGISTRATION_PATH}/${id}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(reply.status).toBe(401);
        expect(reply.body.error).toBe('invalid_client');
      }
    });

    it("trusts the gateway's own credential and x-wso2-client-id on its connection, not the admin's", async () => {
      const { client } = await dcr.registered();
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const admin = dcr.server.gatewayAuthorization;
      const onGateway = (headers: Record<string, string>) =>
        dcr.call('GET', path, {
          certificate: gateway,
          headers: {
            'x-wso2-mutual-auth-cert': encodeCertificateHeader(dcr.certificate.certificate),
            ...headers,
          },
        });
      let reply = await onGateway({ authorization: admin, 'x-wso2-client-id': client.client_id as string });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.client_id).toBe(client.client_id);
      reply = await onGateway({ authorization: admin, 'x-wso2-client-id': 'someone-else' });
      expect(reply.status).toBe(401);
      expect(reply.body.error).toBe('invalid_client');
      reply = await onGateway({ authorization: admin });
      expect(reply.status).toBe(401);
      expect(reply.body.error).toBe('invalid_client');
      for (const authorization of [
        dcr.server.adminAuthorization,
        `Basic ${Buffer.from('obkit-gateway:wrong').toString('base64')}`,
      ]) {
        reply = await onGateway({ authorization, 'x-wso2-client-id': client.client_id as string });
        expect(reply.status).toBe(401);
        expect(reply.body).toEqual({
          error: 'unauthorized',
          error_description: "the gateway's DCR backend credential is required",
        });
      }
    });

    it("refuses the admin path with 403 over a connection without a certificate or with a recipient's", async () => {
      const { client } = await dcr.registered();
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const headers = {
        authorization: dcr.server.gatewayAuthorization,
        'x-wso2-client-id': client.client_id as string,
      };
      for (const certificate of [null, dcr.certificate, dcr.otherCertificate]) {
        for (const method of ['GET', 'DELETE']) {
          const reply = await dcr.call(method, path, { certificate, headers });
          expect(reply.status, `${method} ${certificate ? 'recipient' : 'no'} certificate`).toBe(403);
          expect(reply.body).toEqual({
            error: 'access_denied',
            error_description:
              "the DCR backend's Basic credential is accepted only on the gateway's internal mutual-TLS connection",
          });
        }
      }
      // Nothing was deleted: the gateway connection still finds the client.
      const reply = await dcr.call('GET', path, { certificate: gateway, headers });
      expect(reply.status, reply.text).toBe(200);
    });
  });

  describe('PUT /register/{ClientId}', () => {
    it('re-validates and updates, keeping client_id and client_id_issued_at', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const jwt = await dcr.requestFor(product, {
        claims: { redirect_uris: [product.redirectUris[0]!], id_token_signed_response_alg: 'ES256' },
      });
      const reply = await dcr.call('PUT', `${REGISTRATION_PATH}/${client.client_id}`, {
        body: jwt,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.client_id).toBe(client.client_id);
      expect(reply.body.client_id_issued_at).toBe(client.client_id_issued_at);
      expect(reply.body.redirect_uris).toEqual([product.redirectUris[0]]);
      expect(reply.body.id_token_signed_response_alg).toBe('ES256');
      const stored = await dcr.call('GET', `${REGISTRATION_PATH}/${client.client_id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(stored.body).toEqual(reply.body);
    });

    it('rejects invalid metadata and an SSA of another software product, changing nothing', async () => {
      const { product, client } = await dcr.registered();
      const other = await dcr.seed();
      const token = await dcr.accessToken(client.client_id as string, product);
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const before = await dcr.db.query(
        'SELECT metadata, registration, software_statement FROM clients WHERE client_id = $1',
        [client.client_id],
      );
      const counts = await dcr.counts();
      const foreign = await dcr.requestFor(product, {
        ssa: await other.getSsa(),
        softwareId: other.softwareProductId,
      });
      let reply = await dcr.call('PUT', path, {
        body: foreign,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_software_statement');
      const invalid = await dcr.requestFor(product, { claims: { grant_types: ['password'] } });
      reply = await dcr.call('PUT', path, { body: invalid, headers: { authorization: `Bearer ${token}` } });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_client_metadata');
      const after = await dcr.db.query(
        'SELECT metadata, registration, software_statement FROM clients WHERE client_id = $1',
        [client.client_id],
      );
      expect(after.rows).toEqual(before.rows);
      expect(await dcr.counts()).toEqual(counts);
    });

    it('answers 401 without a token and 403 without cdr:registration', async () => {
      const { product, client } = await dcr.registered();
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const body = await dcr.requestFor(product);
      expect((await dcr.call('PUT', path, { body })).status).toBe(401);
      const token = await dcr.accessToken(client.client_id as string, product, { scope: 'openid' });
      const reply = await dcr.call('PUT', path, { body, headers: { authorization: `Bearer ${token}` } });
      expect(reply.status).toBe(403);
    });
  });

  describe('DELETE /register/{ClientId}', () => {
    it('deletes the client: 204, row gone, GET 401, token endpoint invalid_client', async () => {
      const { product, client } = await dcr.registered();
      const token = await dcr.accessToken(client.client_id as string, product);
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      const reply = await dcr.call('DELETE', path, { headers: { authorization: `Bearer ${token}` } });
      expect(reply.status, reply.text).toBe(204);
      expect(
        (await dcr.db.query('SELECT 1 FROM clients WHERE client_id = $1', [client.client_id])).rows,
      ).toHaveLength(0);
      const afterDelete = await dcr.call('GET', path, { headers: { authorization: `Bearer ${token}` } });
      expect(afterDelete.status).toBe(401);
      expect(afterDelete.body.error).toBe('invalid_client');
      const tokenReply = await dcr.tokenRequest(client.client_id as string, product);
      expect(tokenReply.status).toBe(401);
      expect(tokenReply.body.error).toBe('invalid_client');
      // The software product may register again.
      expect((await dcr.post(await dcr.requestFor(product))).status).toBe(201);
    });

    it('answers 401 without a token and 403 without cdr:registration', async () => {
      const { product, client } = await dcr.registered();
      const path = `${REGISTRATION_PATH}/${client.client_id}`;
      expect((await dcr.call('DELETE', path)).status).toBe(401);
      const token = await dcr.accessToken(client.client_id as string, product, { scope: 'openid' });
      expect((await dcr.call('DELETE', path, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        403,
      );
      expect(
        (await dcr.db.query('SELECT 1 FROM clients WHERE client_id = $1', [client.client_id])).rows,
      ).toHaveLength(1);
    });
  });
});

/** An access token signed with the identity server's own active PS256 key, as the token endpoint would. */
async function forgeAccessToken(
  dcr: DcrHarness,
  clientId: string,
  certificate: Certificate,
  expiresIn: number,
): Promise<string> {
  const { rows } = await dcr.db.query<{ sealed_private_jwk: string }>(
    `SELECT sealed_private_jwk FROM signing_keys WHERE retired_at IS NULL AND alg = 'PS256'`,
  );
  const jwk = JSON.parse(dcr.server.server.secrets.open(rows[0]!.sealed_private_jwk)) as JWK;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    client_id: clientId,
    scope: 'cdr:registration',
    cnf: { 'x5t#S256': certificateThumbprint(new X509Certificate(certificate.certificate)) },
  })
    .setProtectedHeader({ alg: 'PS256', kid: jwk.kid!, typ: 'at+jwt' })
    .setIssuer(dcr.issuer)
    .setAudience(dcr.url)
    .setSubject(clientId)
    .setJti(crypto.randomUUID())
    .setIssuedAt(now - 600)
    .setExpirationTime(now + expiresIn)
    .sign(await importJWK(jwk, 'PS256'));
}
