import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../../scripts/lib/api-client/admin.ts';
import { HttpClient } from '../../scripts/lib/api-client/http.ts';
import { ManagementSession } from '../../scripts/lib/api-client/management-session.ts';
import { PublisherApi } from '../../scripts/lib/api-client/publisher.ts';
import { DEFAULT_INSEQUENCE, defaultDefinition } from '../../scripts/lib/configure.ts';
import { publishDcrApi, withVaultCredential } from '../../scripts/lib/dcr-api.ts';
import { configureKeyManager, OBKM_NAME } from '../../scripts/lib/key-manager.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { hasWso2Reference, wso2Reference } from '../support/reference.ts';

/** The configure steps against a real api-manager (port 0, PGlite in a temporary directory). */

const IS_URL = 'https://localhost:9446';
let apim: RunningApiManager;
let ca: string;

beforeAll(async () => {
  apim = await startApiManager();
  ca = await readFile(apim.pki.caBundle, 'utf8');
});
afterAll(() => apim?.stop());

function session(password = apim.config.obkit.admin.password, http?: HttpClient) {
  return new ManagementSession(http ?? new HttpClient({ baseUrl: apim.url, tls: { ca }, backoffMs: 10 }), {
    username: 'admin',
    password,
  });
}
const connector = () => ({ username: 'admin', password: apim.config.obkit.admin.password });
// One key for the whole file, as one state directory keeps one: re-runs must say "unchanged".
const fingerprintKey = { key: randomBytes(32), source: 'file' as const };
const publishOptions = (overrides: Partial<Parameters<typeof publishDcrApi>[1]> = {}) => ({
  definitionFile: defaultDefinition(),
  inSequenceFile: DEFAULT_INSEQUENCE,
  identityServerUrl: IS_URL,
  vhost: 'localhost',
  fingerprintKey,
  ...overrides,
});

describe('dry run (configure --plan) on an empty api-manager', () => {
  it('plans creating OBKM, disabling the resident key manager and publishing the API, and changes nothing', async () => {
    const admin = new AdminApi(session());
    const publisher = new PublisherApi(session());
    const keyManagers = await configureKeyManager(admin, {
      identityServerUrl: IS_URL,
      connector: connector(),
      fingerprintKey,
      dryRun: true,
    });
    expect(keyManagers.data?.changes).toEqual([
      { action: 'create', subject: 'key manager OBKM' },
      {
        action: 'update',
        subject: 'key manager Resident Key Manager',
        fields: expect.arrayContaining(['enabled']),
      },
    ]);
    const api = await publishDcrApi(publisher, { ...publishOptions(), dryRun: true });
    expect(
      ((api.data?.changes ?? []) as { action: string; subject: string }[]).map(
        (c) => `${c.action} ${c.subject}`,
      ),
    ).toEqual([
      'create API CDRDynamicClientRegistrationAPI 0.2',
      expect.stringMatching(/^create in-sequence policy obkitDcrInSequence[0-9a-f]{8}$/),
      expect.stringMatching(/^create revision "obkit [0-9a-f]+"$/),
      'create deployment to Default (vhost localhost)',
      'update API CDRDynamicClientRegistrationAPI 0.2',
    ]);
    expect((await admin.listKeyManagers()).find((k) => k.name === OBKM_NAME)).toBeUndefined();
    expect((await admin.listKeyManagers()).find((k) => k.type === 'default')?.enabled).toBe(true);
    expect(await publisher.findApi('CDRDynamicClientRegistrationAPI', '0.2')).toBeUndefined();
  });
});

describe('configure-key-manager', () => {
  it('creates OBKM and disables the resident key manager, then reports unchanged', async () => {
    const admin = new AdminApi(session());
    const first = await configureKeyManager(admin, {
      identityServerUrl: IS_URL,
      connector: connector(),
      fingerprintKey,
    });
    expect(first.status).toBe('updated');
    const all = await admin.listKeyManagers();
    const obkm = await admin.getKeyManager(all.find((k) => k.name === OBKM_NAME)!.id!);
    expect(obkm).toMatchObject({
      type: 'ObKeyManager',
      issuer: `${IS_URL}/oauth2/token`,
      tokenEndpoint: `${IS_URL}/oauth2/token`,
      certificates: { type: 'JWKS', value: `${IS_URL}/oauth2/jwks` },
      enabled: true,
    });
    expect(all.find((k) => k.type === 'default')?.enabled).toBe(false);
    const second = await configureKeyManager(admin, {
      identityServerUrl: IS_URL,
      connector: connector(),
      fingerprintKey,
    });
    expect(second.status).toBe('unchanged');
  });

  it('applies a changed input (the identity server URL, the connector password) as updated', async () => {
    const admin = new AdminApi(session());
    const moved = await configureKeyManager(admin, {
      identityServerUrl: 'https://is.example:9446',
      connector: connector(),
      fingerprintKey,
    });
    expect(moved.status).toBe('updated');
    expect(moved.actions.join()).toMatch(/issuer/);
    const rotated = await configureKeyManager(admin, {
      identityServerUrl: 'https://is.example:9446',
      connector: { username: 'admin', password: 'rotated' },
      fingerprintKey,
    });
    expect(rotated.status).toBe('updated');
    expect(rotated.actions.join()).not.toContain('rotated');
    await configureKeyManager(admin, { identityServerUrl: IS_URL, connector: connector(), fingerprintKey });
  });

  it('fails with the API error on wrong credentials', async () => {
    const error = await configureKeyManager(new AdminApi(session('not-the-password')), {
      identityServerUrl: IS_URL,
      connector: connector(),
      fingerprintKey,
    }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/client-registration\/v0\.17\/register → HTTP 401/);
    expect((error as Error).message).not.toContain('not-the-password');
  });

  it('retries an API that is down with backoff, then names the URL', async () => {
    const http = new HttpClient({ baseUrl: 'https://127.0.0.1:1', tls: { ca }, retries: 2, backoffMs: 5 });
    const error = await configureKeyManager(new AdminApi(session(undefined, http)), {
      identityServerUrl: IS_URL,
      connector: connector(),
      fingerprintKey,
    }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /^POST https:\/\/127\.0\.0\.1:1\/client-registration\/v0\.17\/register failed: ECONNREFUSED.*gave up after 3 attempts/,
    );
  });
});

describe('publish-dcr-api', () => {
  it('publishes, deploys and reports unchanged on a re-run', async () => {
    const publisher = new PublisherApi(session());
    const first = await publishDcrApi(publisher, publishOptions());
    expect(first.status).toBe('updated');
    const api = await publisher.getApi(String(first.data?.apiId));
    expect(api.lifeCycleStatus).toBe('PUBLISHED');
    expect(api.policies).toEqual(['Unlimited']);
    const deployed = await publisher.listRevisions(api.id, true);
    expect(deployed).toHaveLength(1);
    expect(deployed[0]?.deploymentInfo?.[0]).toMatchObject({ name: 'Default', vhost: 'localhost' });
    const second = await publishDcrApi(publisher, publishOptions());
    expect(second.status).toBe('unchanged');
  });

  it("uploads a sequence that names the gateway's vault alias and carries no credential", async () => {
    const publisher = new PublisherApi(session());
    const api = (await publisher.findApi('CDRDynamicClientRegistrationAPI', '0.2'))!;
    const [policy] = (await publisher.listOperationPolicies(api.id)).filter((p) =>
      p.name.startsWith('obkitDcrInSequence'),
    );
    const stored = await apim.manager.db.query<{ definition: string }>(
      'SELECT definition FROM operation_policies WHERE id = $1',
      [policy!.id],
    );
    expect(stored.rows[0]!.definition).toContain("wso2:vault-lookup('obkit.dcr.backend.authorization')");
    expect(stored.rows[0]!.definition).not.toMatch(/"Basic [A-Za-z0-9+/=]*"/);
    expect(stored.rows[0]!.definition).not.toContain(apim.config.obkit.admin.password);
  });

  it("rewrites WSO2's literal Basic credential into the vault lookup, and refuses a sequence without one", () => {
    const wso2 = `<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
    <header name="Authorization" scope="transport" action="remove" />
    <header name="Authorization" value="Basic YWRtaW5Ad3NvMi5jb206d3NvMjEyMw==" scope="transport"/>
</sequence>`;
    const rewritten = withVaultCredential(wso2);
    expect(rewritten).toContain(
      `<header name="Authorization" expression="wso2:vault-lookup('obkit.dcr.backend.authorization')" scope="transport"/>`,
    );
    expect(rewritten).not.toContain('YWRtaW5Ad3NvMi5jb206d3NvMjEyMw');
    expect(withVaultCredential(rewritten)).toBe(rewritten);
    expect(() =>
      withVaultCredential('<sequence><header name="x" value="y" scope="transport"/></sequence>'),
    ).toThrow(/sets no Authorization header/);
    expect(() => withVaultCredential('<header name="Authorization" value="Basic {{ADMIN_BASIC}}"/>')).toThrow(
      /no longer templated/,
    );
  });

  it('rotates the oldest undeployed revision at the limit of five', async () => {
    const publisher = new PublisherApi(session());
    const api = (await publisher.findApi('CDRDynamicClientRegistrationAPI', '0.2'))!;
    for (let i = (await publisher.listRevisions(api.id)).length; i < 5; i++) {
      await publisher.createRevision(api.id, `filler ${i}`);
    }
    const before = await publisher.listRevisions(api.id);
    expect(before).toHaveLength(5);
    const result = await publishDcrApi(
      publisher,
      publishOptions({ vhost: 'localhost', identityServerUrl: 'https://127.0.0.1:9446' }),
    );
    expect(result.actions.join('\n')).toMatch(/deleted oldest undeployed revision/);
    const after = await publisher.listRevisions(api.id);
    expect(after).toHaveLength(5);
    expect(after.filter((r) => r.deploymentInfo?.length)).toHaveLength(1);
    await publishDcrApi(publisher, publishOptions());
  });

  it('an interrupted run is completed by the next one', async () => {
    // A client that dies after a few calls, as a killed script would.
    let calls = 0;
    const instance = axios.create({
      validateStatus: () => true,
      httpsAgent: new (await import('node:https')).Agent({ ca }),
    });
    instance.interceptors.request.use((config) => {
      if (++calls > 6) throw Object.assign(new Error('interrupted'), { code: 'ERR_INTERRUPTED' });
      return config;
    });
    const flaky = new HttpClient({ baseUrl: apim.url, axios: instance, retries: 0 });
    const options = publishOptions({ identityServerUrl: 'https://interrupted.example:9446' });
    await expect(publishDcrApi(new PublisherApi(session(undefined, flaky)), options)).rejects.toThrow(
      /interrupted/,
    );
    const publisher = new PublisherApi(session());
    const resumed = await publishDcrApi(publisher, options);
    expect(resumed.status).toBe('updated');
    expect(resumed.actions.join('\n')).toMatch(/deployed Revision/);
    expect((await publishDcrApi(publisher, options)).status).toBe('unchanged');
    await publishDcrApi(publisher, publishOptions());
  });

  it.skipIf(!hasWso2Reference)(
    "publishes WSO2's reference definition and in-sequence with the real credential",
    async () => {
      const publisher = new PublisherApi(session());
      const result = await publishDcrApi(
        publisher,
        publishOptions({
          definitionFile: wso2Reference('au-dcr-swagger.yaml'),
          inSequenceFile: wso2Reference('au-dcr-insequence-0.2.xml'),
        }),
      );
      expect(['updated', 'unchanged']).toContain(result.status);
      const api = await publisher.getApi(String(result.data?.apiId));
      expect(api.lifeCycleStatus).toBe('PUBLISHED');
      const post = api.operations?.find((o) => o.verb === 'POST' && o.target === '/register');
      expect(post?.authType).toBe('None');
      expect(post?.operationPolicies?.request?.[0]?.policyName).toBe(result.data?.policy);
      expect(
        (
          await publishDcrApi(
            publisher,
            publishOptions({
              definitionFile: wso2Reference('au-dcr-swagger.yaml'),
              inSequenceFile: wso2Reference('au-dcr-insequence-0.2.xml'),
            }),
          )
        ).status,
      ).toBe('unchanged');
    },
  );
});
