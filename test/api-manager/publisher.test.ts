import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, FormData, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_PATH } from '../../lib/gateway-feed/snapshot.ts';
import { DEVPORTAL_API, MANAGEMENT_SCOPES, PUBLISHER_API as P } from '../../lib/wso2/management-api.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { wso2Reference } from '../support/reference.ts';

const WSO2_SWAGGER = wso2Reference('au-dcr-swagger.yaml');
const WSO2_SEQUENCE = wso2Reference('au-dcr-insequence-0.2.xml');
const OWN_DEFINITION = new URL('../../apis/cdr-dcr/0.2/cdr-dcr.yaml', import.meta.url);
const OWN_SEQUENCE = new URL('../../apis/cdr-dcr/0.2/insequence.xml', import.meta.url);

let apim: RunningApiManager;
let token: string;

const dcrProperties = (name: string, context: string) => ({
  name,
  version: '0.2',
  context,
  policies: ['Unlimited'],
  apiThrottlingPolicy: 'Unlimited',
  endpointConfig: {
    endpoint_type: 'http',
    production_endpoints: { url: 'https://localhost:9446/api/openbanking/dynamic-client-registration' },
    sandbox_endpoints: { url: 'https://localhost:9446/api/openbanking/dynamic-client-registration' },
  },
});

function importForm(
  definition: string,
  properties: object,
  as: 'file' | 'inlineAPIDefinition' = 'file',
): FormData {
  const form = new FormData();
  if (as === 'file') form.append('file', new Blob([definition]), 'definition.yaml');
  else form.append('inlineAPIDefinition', definition);
  form.append('additionalProperties', JSON.stringify(properties));
  return form;
}

function policyForm(name: string, sequence: string): FormData {
  const form = new FormData();
  const spec = {
    category: 'Mediation',
    name,
    displayName: name,
    version: '1.0',
    applicableFlows: ['request'],
    supportedApiTypes: ['HTTP'],
    supportedGateways: ['Synapse'],
    policyAttributes: [],
  };
  form.append('policySpecFile', new Blob([JSON.stringify(spec)]), 'spec.json');
  form.append('synapsePolicyDefinitionFile', new Blob([sequence]), `${name}.xml`);
  return form;
}

async function importApi(definition: string, properties: object) {
  return apim.call('POST', `${P}/apis/import-openapi`, { token, body: importForm(definition, properties) });
}

/** GETs the gateway feed over TLS presenting `identity` (or no certificate). */
async function feed(
  identity: { cert: string; key: string } | undefined,
  headers: Record<string, string> = {},
  query = '',
) {
  const agent = new Agent({
    connect: { ca: apim.pki.caBundle ? readFileSync(apim.pki.caBundle, 'utf8') : undefined, ...identity },
  });
  try {
    const response = await request(`${apim.url}${SNAPSHOT_PATH}${query}`, { dispatcher: agent, headers });
    const text = await response.body.text();
    return {
      status: response.statusCode,
      etag: response.headers.etag as string | undefined,
      body: text ? JSON.parse(text) : undefined,
    };
  } finally {
    await agent.close();
  }
}

let gatewayIdentity: { cert: string; key: string };
let recipientIdentity: { cert: string; key: string };

beforeAll(async () => {
  apim = await startApiManager({
    overrides: { obkit: { gateway: { url: 'https://gw.example.test:8243' } } },
  });
  token = await apim.managementToken(MANAGEMENT_SCOPES);
  gatewayIdentity = {
    cert: await readFile(apim.pki.gatewayInternalCertificate, 'utf8'),
    key: await readFile(apim.pki.gatewayInternalKey, 'utf8'),
  };
  recipientIdentity = {
    cert: await readFile(apim.pki.clientCertificate, 'utf8'),
    key: await readFile(apim.pki.clientKey, 'utf8'),
  };
});
afterAll(async () => {
  await apim?.stop();
});

describe('import-openapi', () => {
  it("imports WSO2's au-dcr-swagger.yaml unchanged, honouring x-auth-type, scopes and x-throttling-tier", async (context) => {
    if (!existsSync(WSO2_SWAGGER)) {
      console.log(`skipped: ${WSO2_SWAGGER} not present`);
      context.skip();
    }
    const created = await importApi(
      readFileSync(WSO2_SWAGGER, 'utf8'),
      dcrProperties('CDRDynamicClientRegistrationAPI', '/open-banking/{version}'),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'CDRDynamicClientRegistrationAPI',
      version: '0.2',
      context: '/open-banking',
      lifeCycleStatus: 'CREATED',
      policies: ['Unlimited'],
    });
    const operations = Object.fromEntries(
      created.body.operations.map((operation: { verb: string; target: string }) => [
        `${operation.verb} ${operation.target}`,
        operation,
      ]),
    );
    expect(Object.keys(operations).sort()).toEqual([
      'DELETE /register/{ClientId}',
      'GET /register/{ClientId}',
      'POST /register',
      'PUT /register/{ClientId}',
    ]);
    expect(operations['POST /register']).toMatchObject({
      authType: 'None',
      scopes: [],
      throttlingPolicy: 'Unlimited',
    });
    expect(operations['GET /register/{ClientId}']).toMatchObject({
      authType: 'Application',
      scopes: ['cdr:registration'],
    });

    const found = await apim.call(
      'GET',
      `${P}/apis?query=${encodeURIComponent('name:"CDRDynamicClientRegistrationAPI"')}`,
      { token },
    );
    expect(found.body.count).toBe(1);
    expect(found.body.list[0]).toMatchObject({
      id: created.body.id,
      name: 'CDRDynamicClientRegistrationAPI',
      version: '0.2',
    });

    const again = await importApi(
      readFileSync(WSO2_SWAGGER, 'utf8'),
      dcrProperties('CDRDynamicClientRegistrationAPI', '/open-banking/{version}'),
    );
    expect(again.status).toBe(409);
  });

  it("imports the project's own OpenAPI 3 definition with the same operations", async () => {
    const created = await importApi(
      readFileSync(OWN_DEFINITION, 'utf8'),
      dcrProperties('ObkitDcr', '/obkit-dcr/{version}'),
    );
    expect(created.status).toBe(201);
    const summary = created.body.operations
      .map(
        (operation: { verb: string; target: string; authType: string; scopes: string[] }) =>
          `${operation.verb} ${operation.target} ${operation.authType} ${operation.scopes.join(',')}`,
      )
      .sort();
    expect(summary).toEqual([
      'DELETE /register/{ClientId} Application cdr:registration',
      'GET /register/{ClientId} Application cdr:registration',
      'POST /register None ',
      'PUT /register/{ClientId} Application cdr:registration',
    ]);
    expect(created.body.scopes[0].scope.name).toBe('cdr:registration');
  });

  it('rejects invalid definitions and properties with a 400 naming the field', async () => {
    const definition = readFileSync(OWN_DEFINITION, 'utf8');
    const badAuth = await apim.call('POST', `${P}/apis/import-openapi`, {
      token,
      body: importForm(
        definition.replace('x-auth-type: None', 'x-auth-type: Sometimes'),
        dcrProperties('Bad1', '/bad1'),
        'inlineAPIDefinition',
      ),
    });
    expect(badAuth.status).toBe(400);
    expect(badAuth.body.description).toContain('paths./register.post.x-auth-type');

    const noPaths = await importApi(
      JSON.stringify({ swagger: '2.0', info: { title: 't', version: '1' } }),
      dcrProperties('Bad2', '/bad2'),
    );
    expect(noPaths.status).toBe(400);
    expect(noPaths.body.description).toContain('paths');

    const badPlan = await importApi(definition, {
      ...dcrProperties('Bad3', '/bad3'),
      policies: ['Platinum'],
    });
    expect(badPlan.status).toBe(400);
    expect(badPlan.body.description).toContain('additionalProperties.policies.0');

    const badEndpoint = await importApi(definition, {
      ...dcrProperties('Bad4', '/bad4'),
      endpointConfig: { endpoint_type: 'load_balance' },
    });
    expect(badEndpoint.status).toBe(400);
    expect(badEndpoint.body.description).toContain('endpointConfig.endpoint_type');
  });
});

describe('operation policies, revisions, deployment and lifecycle', () => {
  let apiId: string;
  let policyId: string;

  beforeAll(async () => {
    const created = await importApi(
      readFileSync(OWN_DEFINITION, 'utf8'),
      dcrProperties('FlowApi', '/flow/{version}'),
    );
    apiId = created.body.id;
  });

  it("accepts WSO2's au-dcr-insequence-0.2.xml and the project's sequence as operation policies", async (context) => {
    const own = await apim.call('POST', `${P}/apis/${apiId}/operation-policies`, {
      token,
      body: policyForm('ownInsequence', readFileSync(OWN_SEQUENCE, 'utf8')),
    });
    expect(own.status).toBe(201);
    policyId = own.body.id;
    if (!existsSync(WSO2_SEQUENCE)) {
      console.log(`skipped: ${WSO2_SEQUENCE} not present`);
      context.skip();
    }
    const wso2 = await apim.call('POST', `${P}/apis/${apiId}/operation-policies`, {
      token,
      body: policyForm('auDcrInsequence', readFileSync(WSO2_SEQUENCE, 'utf8')),
    });
    expect(wso2.status).toBe(201);
    expect(wso2.body).toMatchObject({
      name: 'auDcrInsequence',
      version: '1.0',
      applicableFlows: ['request'],
    });
    const list = await apim.call('GET', `${P}/apis/${apiId}/operation-policies`, { token });
    expect(list.body.count).toBe(2);
  });

  it('rejects sequences with mediators the gateway cannot run, naming them', async () => {
    const log = await apim.call('POST', `${P}/apis/${apiId}/operation-policies`, {
      token,
      body: policyForm(
        'withLog',
        '<sequence xmlns="http://ws.apache.org/ns/synapse"><log level="full"/></sequence>',
      ),
    });
    expect(log.status).toBe(400);
    expect(log.body.description).toContain('<log>');
    const script = await apim.call('POST', `${P}/apis/${apiId}/operation-policies`, {
      token,
      body: policyForm(
        'withScript',
        '<sequence><script language="js">mc.setProperty("x", 1)</script></sequence>',
      ),
    });
    expect(script.status).toBe(400);
    expect(script.body.description).toContain('<script>');
  });

  it('attaches policies on PUT and refuses an unknown policyId', async () => {
    const api = (await apim.call('GET', `${P}/apis/${apiId}`, { token })).body;
    const attach = (id: string) => ({
      ...api,
      operations: api.operations.map((operation: object) => ({
        ...operation,
        operationPolicies: {
          request: [{ policyName: 'ownInsequence', policyId: id, policyVersion: '1.0', parameters: {} }],
          response: [],
          fault: [],
        },
      })),
    });
    const unknown = await apim.call('PUT', `${P}/apis/${apiId}`, { token, json: attach('no-such-policy') });
    expect(unknown.status).toBe(400);
    expect(unknown.body.description).toContain('operations[0].operationPolicies.request[0].policyId');
    const updated = await apim.call('PUT', `${P}/apis/${apiId}`, { token, json: attach(policyId) });
    expect(updated.status).toBe(200);
    expect(updated.body.operations[0].operationPolicies.request[0]).toMatchObject({
      policyId,
      policyName: 'ownInsequence',
    });
  });

  it('keeps at most 5 revisions and refuses a 6th, naming the limit', async () => {
    const ids: string[] = [];
    for (let index = 1; index <= 5; index++) {
      const revision = await apim.call('POST', `${P}/apis/${apiId}/revisions`, {
        token,
        json: { description: `r${index}` },
      });
      expect(revision.status).toBe(201);
      expect(revision.body.displayName).toBe(`Revision ${index}`);
      ids.push(revision.body.id);
    }
    const sixth = await apim.call('POST', `${P}/apis/${apiId}/revisions`, {
      token,
      json: { description: 'r6' },
    });
    expect(sixth.status).toBe(400);
    expect(sixth.body.description).toContain('at most 5 revisions');
    expect((await apim.call('DELETE', `${P}/apis/${apiId}/revisions/${ids[0]}`, { token })).status).toBe(200);
    const next = await apim.call('POST', `${P}/apis/${apiId}/revisions`, {
      token,
      json: { description: 'r6' },
    });
    expect(next.status).toBe(201);
    expect(next.body.displayName).toBe('Revision 6');
  });

  it('deploys only to known environments and their vhosts, and keeps deployed revisions', async () => {
    const revisions = (await apim.call('GET', `${P}/apis/${apiId}/revisions`, { token })).body.list;
    const revisionId = revisions.at(-1).id;
    const deploy = (body: object[]) =>
      apim.call('POST', `${P}/apis/${apiId}/deploy-revision?revisionId=${revisionId}`, { token, json: body });
    const badHost = await deploy([
      { revisionUuid: revisionId, name: 'Default', vhost: 'evil.example', displayOnDevportal: true },
    ]);
    expect(badHost.status).toBe(400);
    expect(badHost.body.description).toContain('vhost');
    const badEnvironment = await deploy([
      { revisionUuid: revisionId, name: 'Production', vhost: 'localhost' },
    ]);
    expect(badEnvironment.status).toBe(400);
    const ok = await deploy([
      { revisionUuid: revisionId, name: 'Default', vhost: 'gw.example.test', displayOnDevportal: true },
    ]);
    expect(ok.status).toBe(201);
    expect(ok.body[0]).toMatchObject({ revisionUuid: revisionId, name: 'Default', vhost: 'gw.example.test' });
    const deployed = await apim.call('GET', `${P}/apis/${apiId}/revisions?query=deployed:true`, { token });
    expect(deployed.body.count).toBe(1);
    expect(deployed.body.list[0].id).toBe(revisionId);
    const remove = await apim.call('DELETE', `${P}/apis/${apiId}/revisions/${revisionId}`, { token });
    expect(remove.status).toBe(400);
  });

  it('follows the lifecycle transitions and refuses illegal ones', async () => {
    const change = (action: string) =>
      apim.call('POST', `${P}/apis/change-lifecycle?apiId=${apiId}&action=${encodeURIComponent(action)}`, {
        token,
      });
    expect((await change('Retire')).status).toBe(400);
    const published = await change('Publish');
    expect(published.status).toBe(200);
    expect(published.body.lifecycleState.state).toBe('Published');
    expect((await apim.call('GET', `${P}/apis/${apiId}`, { token })).body.lifeCycleStatus).toBe('PUBLISHED');
    expect((await change('Publish')).status).toBe(400);
  });

  it('serves the deployed revision to the gateway only, with ETag, 304 and long poll', async () => {
    expect((await feed(undefined)).status).toBe(403);
    expect((await feed(recipientIdentity)).status).toBe(403);
    const first = await feed(gatewayIdentity);
    expect(first.status).toBe(200);
    expect(first.etag).toBe(`"${first.body.version}"`);
    const api = first.body.apis.find((candidate: { apiId: string }) => candidate.apiId === apiId);
    expect(api).toMatchObject({
      name: 'FlowApi',
      context: '/flow/0.2',
      lifeCycleStatus: 'PUBLISHED',
      deployments: [{ environment: 'Default', vhost: 'gw.example.test' }],
      endpoints: { production: 'https://localhost:9446/api/openbanking/dynamic-client-registration' },
    });
    const get = api.operations.find((operation: { verb: string }) => operation.verb === 'GET');
    expect(get).toMatchObject({ authType: 'Application', scopes: ['cdr:registration'] });
    expect(get.operationPolicies.request[0].steps).toEqual([
      {
        kind: 'header',
        name: 'x-wso2-client-id',
        action: 'set',
        scope: 'transport',
        expression: "get-property('api.ut.consumerKey')",
      },
      { kind: 'header', name: 'Authorization', action: 'remove', scope: 'transport' },
      {
        kind: 'header',
        name: 'Authorization',
        action: 'set',
        scope: 'transport',
        expression: "wso2:vault-lookup('obkit.dcr.backend.authorization')",
      },
    ]);
    // The gateway's snapshot names the vault alias; no credential travels in it.
    expect(JSON.stringify(first.body)).not.toMatch(/Basic [A-Za-z0-9+/]{8,}/);
    expect(first.body.keyManagers.map((keyManager: { name: string }) => keyManager.name)).toContain(
      'Resident Key Manager',
    );
    expect(first.body.regulatoryApis).toEqual(['CDRDynamicClientRegistrationAPI', 'CDSBankingAPI']);
    expect(
      first.body.subscriptionPolicies.find((policy: { name: string }) => policy.name === 'Gold'),
    ).toMatchObject({
      requestCount: 5000,
      timeUnit: 'min',
    });

    const unchanged = await feed(gatewayIdentity, { 'if-none-match': first.etag! });
    expect(unchanged.status).toBe(304);

    const started = Date.now();
    const held = feed(gatewayIdentity, { 'if-none-match': first.etag! }, '?wait=20');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const deprecated = await apim.call('POST', `${P}/apis/change-lifecycle?apiId=${apiId}&action=Deprecate`, {
      token,
    });
    expect(deprecated.status).toBe(200);
    const changed = await held;
    expect(changed.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(changed.etag).not.toBe(first.etag);
    expect(
      changed.body.apis.find((candidate: { apiId: string }) => candidate.apiId === apiId).lifeCycleStatus,
    ).toBe('DEPRECATED');
  });

  it('drops a retired API from the snapshot', async () => {
    expect(
      (await apim.call('POST', `${P}/apis/change-lifecycle?apiId=${apiId}&action=Retire`, { token })).status,
    ).toBe(200);
    const snapshot = await feed(gatewayIdentity);
    expect(snapshot.body.apis.some((candidate: { apiId: string }) => candidate.apiId === apiId)).toBe(false);
  });
});

describe('devportal subscriptions', () => {
  it('subscribes only to published APIs with one of their business plans, and protects subscribed APIs', async () => {
    const api = (
      await importApi(readFileSync(OWN_DEFINITION, 'utf8'), dcrProperties('SubApi', '/sub/{version}'))
    ).body;
    const application = await apim.call('POST', `${DEVPORTAL_API}/applications`, {
      token,
      json: { name: 'SubApp', throttlingPolicy: 'Unlimited' },
    });
    const subscribe = (throttlingPolicy: string) =>
      apim.call('POST', `${DEVPORTAL_API}/subscriptions`, {
        token,
        json: { applicationId: application.body.applicationId, apiId: api.id, throttlingPolicy },
      });
    expect((await subscribe('Unlimited')).status).toBe(400);
    await apim.call('POST', `${P}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, { token });
    const wrongPlan = await subscribe('Gold');
    expect(wrongPlan.status).toBe(400);
    expect(wrongPlan.body.description).toContain('throttlingPolicy');
    const subscribed = await subscribe('Unlimited');
    expect(subscribed.status).toBe(201);
    expect(subscribed.body).toMatchObject({
      apiId: api.id,
      throttlingPolicy: 'Unlimited',
      status: 'UNBLOCKED',
    });
    expect((await apim.call('DELETE', `${P}/apis/${api.id}`, { token })).status).toBe(409);
    const listed = await apim.call(
      'GET',
      `${DEVPORTAL_API}/subscriptions?applicationId=${application.body.applicationId}`,
      { token },
    );
    expect(listed.body.count).toBe(1);
    expect(
      (
        await apim.call('DELETE', `${DEVPORTAL_API}/subscriptions/${subscribed.body.subscriptionId}`, {
          token,
        })
      ).status,
    ).toBe(200);
    expect((await apim.call('DELETE', `${P}/apis/${api.id}`, { token })).status).toBe(200);
  });
});
