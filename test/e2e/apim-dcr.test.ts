import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../lib/cdr/recipient.ts';
import { loadConfig } from '../../lib/config/index.ts';
import { AdminApi } from '../../scripts/lib/api-client/admin.ts';
import { PublisherApi } from '../../scripts/lib/api-client/publisher.ts';
import { publishDcrApi } from '../../scripts/lib/dcr-api.ts';
import { configureKeyManager } from '../../scripts/lib/key-manager.ts';
import { createGateway, type Gateway } from '../../services/gateway/server.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { type DcrHarness, startHarness } from '../support/dcr.ts';
import { call } from '../support/gateway.ts';
import { TEST_ADMIN_PASSWORD, TEST_DCR_BACKEND } from '../support/identity-server.ts';
import { wso2Reference } from '../support/reference.ts';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * WSO2's onboarding guide end to end on the native stack, over real TLS: the Register, identity server,
 * api-manager and gateway share one sandbox PKI; the DCR API is published through api-manager's REST
 * API with the in-sequence attached, OBKM is configured and the resident key manager disabled, and a
 * recipient registers, reads, updates and deletes its registration through the gateway.
 */

const variants = [
  {
    name: "WSO2's au-dcr-swagger.yaml and au-dcr-insequence-0.2.xml",
    definition: wso2Reference('au-dcr-swagger.yaml'),
    sequence: wso2Reference('au-dcr-insequence-0.2.xml'),
  },
  {
    name: "obkit's apis/cdr-dcr/0.2",
    definition: new URL('../../apis/cdr-dcr/0.2/cdr-dcr.yaml', import.meta.url).pathname,
    sequence: new URL('../../apis/cdr-dcr/0.2/insequence.xml', import.meta.url).pathname,
  },
];
for (const variant of variants) {
  if (!existsSync(variant.definition))
    console.log(`skipping e2e with ${variant.name}: ${variant.definition} is absent`);
}

describe.each(variants.filter((variant) => existsSync(variant.definition)))(
  'DCR through the gateway with $name',
  (variant) => {
    let stateDir: string;
    let register: TestRegister;
    let dcr: DcrHarness;
    let apim: RunningApiManager;
    let gateway: Gateway;
    let recipient: Agent;
    let otherRecipient: Agent;
    let residentToken: string;

    beforeAll(async () => {
      register = await startMockRegister();
      dcr = await startHarness({ register });
      // One state directory and one PKI: the Register's (api-manager and the gateway use <state_dir>/pki).
      stateDir = dirname(register.pki.dir);
      const config = (extra: Record<string, unknown>) =>
        loadConfig({
          env: {},
          overrides: {
            obkit: {
              state_dir: stateDir,
              log_level: 'silent',
              admin: { username: 'admin', password: 'apim-admin-password' },
              // The gateway sends it from <state_dir>/vault, where sandbox config loading writes it.
              dcr_backend: TEST_DCR_BACKEND,
              ...extra,
            },
          },
        });
      apim = await startApiManager({ config: config({ api_manager: { port: 0 } }) });
      gateway = await createGateway(config({ gateway: { port: 0 }, api_manager: { url: apim.url } }), {
        feedWaitSeconds: 2,
        feedRetryMs: 100,
      });
      const tls = { ca: register.caPem };
      recipient = new Agent({
        connect: { ...tls, cert: dcr.certificate.certificate, key: dcr.certificate.key },
      });
      otherRecipient = new Agent({
        connect: { ...tls, cert: dcr.otherCertificate.certificate, key: dcr.otherCertificate.key },
      });
      const session = apim.managementSession();
      // A token of the resident key manager, taken while it is still enabled.
      residentToken = await apim.managementToken(['apim:api_view']);

      // The scripts' configure steps, as `obkit configure` runs them. Publisher: import, attach the
      // in-sequence (its credential a vault lookup the gateway resolves), deploy, publish.
      const identityServerAdmin = { username: 'admin', password: TEST_ADMIN_PASSWORD };
      const fingerprintKey = { key: randomBytes(32), source: 'file' as const };
      await publishDcrApi(new PublisherApi(session), {
        definitionFile: variant.definition,
        inSequenceFile: variant.sequence,
        identityServerUrl: dcr.url,
        vhost: 'localhost',
        fingerprintKey,
      });
      // Admin: OBKM on the identity server's endpoints, then the resident key manager disabled.
      await configureKeyManager(new AdminApi(session), {
        identityServerUrl: dcr.url,
        connector: identityServerAdmin,
        fingerprintKey,
      });
      // The gateway serves once its snapshot has the API, OBKM and the resident key manager disabled.
      await vi.waitFor(
        () => {
          const snapshot = gateway.snapshot;
          expect(snapshot?.apis.some((api) => api.name === 'CDRDynamicClientRegistrationAPI')).toBe(true);
          expect(snapshot?.keyManagers.some((km) => km.name === 'OBKM' && km.enabled)).toBe(true);
          expect(snapshot?.keyManagers.some((km) => km.name === 'Resident Key Manager' && !km.enabled)).toBe(
            true,
          );
        },
        { timeout: 15_000, interval: 50 },
      );
    }, 240_000);

    afterAll(async () => {
      await gateway?.close();
      await recipient?.close();
      await otherRecipient?.close();
      await apim?.stop();
      await dcr?.close();
      await register?.close();
    }, 60_000);

    const registerThroughGateway = async () => {
      const product = await dcr.seed();
      const response = await call(recipient, `${gateway.url}/open-banking/0.2/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: await dcr.requestFor(product),
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return { product, client: response.body as Record<string, unknown> & { client_id: string } };
    };

    it('registers, reads, updates and deletes a client with a certificate-bound OBKM token', async () => {
      const { product, client } = await registerThroughGateway();
      expect(client.software_statement).toBeDefined();
      const path = `${gateway.url}/open-banking/0.2/register/${client.client_id}`;
      const token = await dcr.accessToken(client.client_id, product);
      const auth = { authorization: `Bearer ${token}` };

      const read = await call(recipient, path, { headers: auth });
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.client_id).toBe(client.client_id);

      const updated = await call(recipient, path, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/jwt' },
        body: await dcr.requestFor(product),
      });
      expect(updated.status, JSON.stringify(updated.body)).toBe(200);
      expect(updated.body.client_id).toBe(client.client_id);

      const deleted = await call(recipient, path, { method: 'DELETE', headers: auth });
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    });

    it('refuses within 5 s a token revoked at the identity server, whether or not the gateway had seen it', async () => {
      const { product, client } = await registerThroughGateway();
      const path = `${gateway.url}/open-banking/0.2/register/${client.client_id}`;
      const seen = await dcr.accessToken(client.client_id, product);
      const unseen = await dcr.accessToken(client.client_id, product);
      expect((await call(recipient, path, { headers: { authorization: `Bearer ${seen}` } })).status).toBe(
        200,
      );
      for (const token of [seen, unseen]) {
        const revoked = await dcr.call('POST', '/oauth2/revoke', {
          contentType: 'application/x-www-form-urlencoded',
          body: new URLSearchParams({
            token,
            client_id: client.client_id,
            ...clientAssertionFields(
              await buildClientAssertion({
                clientId: client.client_id,
                audience: dcr.issuer,
                key: product.recipient,
              }),
            ),
          }).toString(),
        });
        expect(revoked.status, revoked.text).toBe(200);
      }
      for (const token of [seen, unseen]) {
        await expect
          .poll(
            async () =>
              (await call(recipient, path, { headers: { authorization: `Bearer ${token}` } })).status,
            { timeout: 5000, interval: 100 },
          )
          .toBe(401);
      }
    });

    it('refuses a token of another client, another certificate, without cdr:registration, or of the resident key manager', async () => {
      const first = await registerThroughGateway();
      const second = await registerThroughGateway();
      const path = `${gateway.url}/open-banking/0.2/register/${first.client.client_id}`;

      const otherClientToken = await dcr.accessToken(second.client.client_id, second.product);
      const otherClient = await call(recipient, path, {
        headers: { authorization: `Bearer ${otherClientToken}` },
      });
      expect(otherClient.status).toBe(401);
      expect(otherClient.body.error).toBe('invalid_client');

      const token = await dcr.accessToken(first.client.client_id, first.product);
      const otherCertificate = await call(otherRecipient, path, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(otherCertificate.status).toBe(401);
      expect(otherCertificate.body.error).toBe('invalid_token');

      const narrow = await dcr.accessToken(first.client.client_id, first.product, {
        scope: 'bank:accounts.basic:read',
      });
      const noScope = await call(recipient, path, { headers: { authorization: `Bearer ${narrow}` } });
      expect(noScope.status).toBe(403);
      expect(noScope.body.error).toBe('insufficient_scope');

      const fromResident = await call(recipient, path, {
        headers: { authorization: `Bearer ${residentToken}` },
      });
      expect(fromResident.status).toBe(401);
      expect(fromResident.body.error_description).toContain('disabled');

      // The owner's own token still works: the refusals above were about the token, not the client.
      expect((await call(recipient, path, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
    });
  },
);
