import { readFile } from 'node:fs/promises';
import { Agent, FormData, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_PATH } from '../../lib/gateway-feed/snapshot.ts';
import { ADMIN_API as A, DEVPORTAL_API as D } from '../../lib/wso2/management-api.ts';
import { obkmPayload } from '../../scripts/lib/key-manager.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import {
  type StartedIdentityServer,
  startIdentityServer,
  TEST_ADMIN_PASSWORD,
} from '../support/identity-server.ts';

let apim: RunningApiManager;
let identityServer: StartedIdentityServer;
let admin: string;

async function snapshot() {
  const agent = new Agent({
    connect: {
      ca: await readFile(apim.pki.caBundle, 'utf8'),
      cert: await readFile(apim.pki.gatewayInternalCertificate, 'utf8'),
      key: await readFile(apim.pki.gatewayInternalKey, 'utf8'),
    },
  });
  try {
    const response = await request(`${apim.url}${SNAPSHOT_PATH}`, { dispatcher: agent });
    return (await response.body.json()) as {
      keyManagers: {
        name: string;
        enabled: boolean;
        issuer: string;
        jwksUri: string;
        enableMapOAuthConsumerApps: boolean;
      }[];
      applications: { name: string; keys: { keyManager: string; consumerKey: string }[] }[];
    };
  } finally {
    await agent.close();
  }
}

const connector = { username: 'admin', password: TEST_ADMIN_PASSWORD };

beforeAll(async () => {
  apim = await startApiManager();
  // The identity server shares api-manager's sandbox PKI, so api-manager's outbound CA trusts it.
  identityServer = await startIdentityServer({ pkiDir: apim.pki.dir });
  admin = await apim.managementToken([
    'apim:admin',
    'apim:app_manage',
    'apim:subscribe',
    'apim:sub_manage',
    'apim:tier_view',
  ]);
});
afterAll(async () => {
  await identityServer?.close();
  await apim?.stop();
});

describe('key managers', () => {
  it('has the Resident Key Manager from the start and lets it be disabled with connector credentials', async () => {
    const list = await apim.call('GET', `${A}/key-managers`, { token: admin });
    const resident = list.body.list.find(
      (keyManager: { name: string }) => keyManager.name === 'Resident Key Manager',
    );
    expect(resident).toMatchObject({ type: 'default', enabled: true });
    const full = (await apim.call('GET', `${A}/key-managers/${resident.id}`, { token: admin })).body;
    expect(full.issuer).toBe(`${apim.url}/oauth2/token`);
    const disabled = await apim.call('PUT', `${A}/key-managers/${resident.id}`, {
      token: admin,
      json: {
        ...full,
        enabled: false,
        additionalProperties: { Username: 'admin', Password: 'secret-value' },
      },
    });
    expect(disabled.status).toBe(200);
    expect(disabled.body.enabled).toBe(false);
    expect(disabled.body.additionalProperties.Password).not.toBe('secret-value');
    const fed = await snapshot();
    expect(fed.keyManagers.find((keyManager) => keyManager.name === 'Resident Key Manager')?.enabled).toBe(
      false,
    );
    expect((await apim.call('DELETE', `${A}/key-managers/${resident.id}`, { token: admin })).status).toBe(
      400,
    );
  });

  it('discovers a key manager from the identity server well-known document', async () => {
    const form = new FormData();
    form.append('url', `${identityServer.url}/oauth2/token/.well-known/openid-configuration`);
    form.append('type', 'ObKeyManager');
    const discovered = await apim.call('POST', `${A}/key-managers/discover`, { token: admin, body: form });
    expect(discovered.status).toBe(200);
    expect(discovered.body.valid).toBe(true);
    expect(discovered.body.value).toMatchObject({
      issuer: identityServer.issuer,
      clientRegistrationEndpoint: `${identityServer.url}/keymanager-operations/dcr/register`,
      certificates: { type: 'JWKS' },
    });
    const plain = new FormData();
    plain.append('url', identityServer.url.replace('https:', 'http:'));
    plain.append('type', 'ObKeyManager');
    const refused = await apim.call('POST', `${A}/key-managers/discover`, { token: admin, body: plain });
    expect(refused.body.valid).toBe(false);
  });

  it('adds OBKM, masks its password, refuses a duplicate name and publishes it to the gateway', async () => {
    const created = await apim.call('POST', `${A}/key-managers`, {
      token: admin,
      json: obkmPayload(identityServer.url, connector),
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'OBKM',
      type: 'ObKeyManager',
      enableMapOAuthConsumerApps: true,
    });
    expect(created.body.additionalProperties.Password).not.toBe(TEST_ADMIN_PASSWORD);
    expect(JSON.stringify(created.body)).not.toContain(TEST_ADMIN_PASSWORD);
    const again = await apim.call('POST', `${A}/key-managers`, {
      token: admin,
      json: obkmPayload(identityServer.url, connector),
    });
    expect(again.status).toBe(409);
    const invalid = await apim.call('POST', `${A}/key-managers`, {
      token: admin,
      json: { ...obkmPayload(identityServer.url, connector), name: 'Other', type: 'Okta' },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.description).toContain('type');
    const obkm = (await snapshot()).keyManagers.find((keyManager) => keyManager.name === 'OBKM');
    expect(obkm).toMatchObject({
      enabled: true,
      issuer: identityServer.issuer,
      jwksUri: `${identityServer.url}/oauth2/jwks`,
      enableMapOAuthConsumerApps: true,
    });
  });

  it('generates application keys through the OBKM connector endpoint of the identity server', async () => {
    const application = await apim.call('POST', `${D}/applications`, {
      token: admin,
      json: { name: 'DefaultApplication', throttlingPolicy: 'Unlimited', tokenType: 'JWT' },
    });
    expect(application.status).toBe(201);
    const keys = await apim.call(
      'POST',
      `${D}/applications/${application.body.applicationId}/generate-keys`,
      {
        token: admin,
        json: { keyType: 'PRODUCTION', keyManager: 'OBKM', grantTypesToBeSupported: ['client_credentials'] },
      },
    );
    expect(keys.status).toBe(200);
    expect(keys.body.consumerKey).toBeTruthy();
    expect(keys.body.consumerSecret).toBeTruthy();
    const fed = await snapshot();
    const mapped = fed.applications.find((candidate) => candidate.name === 'DefaultApplication');
    expect(mapped?.keys).toEqual([
      { keyManager: 'OBKM', consumerKey: keys.body.consumerKey, keyType: 'PRODUCTION' },
    ]);
    const disabledKm = await apim.call(
      'POST',
      `${D}/applications/${application.body.applicationId}/generate-keys`,
      {
        token: admin,
        json: { keyType: 'SANDBOX', keyManager: 'Resident Key Manager' },
      },
    );
    expect(disabledKm.status).toBe(400);
  });

  it('lists the business plans and the Default gateway environment', async () => {
    const tiers = await apim.call('GET', `${A}/throttling/policies/subscription`, { token: admin });
    expect(tiers.body.list.map((tier: { policyName: string }) => tier.policyName)).toEqual([
      'Unlimited',
      'Gold',
      'Silver',
      'Bronze',
    ]);
    const environments = await apim.call('GET', `${A}/environments`, { token: admin });
    expect(environments.body.list[0].name).toBe('Default');
    expect(environments.body.list[0].vhosts.map((vhost: { host: string }) => vhost.host)).toContain(
      'localhost',
    );
  });
});
