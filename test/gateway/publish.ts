import { FormData } from 'undici';
import { PUBLISHER_API as PUBLISHER } from '../../lib/wso2/management-api.ts';
import type { RunningApiManager } from '../support/api-manager.ts';

/**
 * The publisher steps of WSO2's guide through api-manager's REST API: import a definition, optionally
 * upload and attach a request mediation policy to every operation, create a revision, deploy it to the
 * `Default` gateway environment and publish. Fails loudly with the step and answer.
 */

export interface PublishOptions {
  definition: string;
  name: string;
  version: string;
  context: string;
  endpoint: string;
  vhost?: string;
  /** Synapse sequence attached as request mediation to every operation. */
  requestSequence?: string;
}

export async function publishApi(
  apim: RunningApiManager,
  token: string,
  options: PublishOptions,
): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([options.definition]), 'definition.yaml');
  form.append(
    'additionalProperties',
    JSON.stringify({
      name: options.name,
      version: options.version,
      context: options.context,
      policies: ['Unlimited'],
      apiThrottlingPolicy: 'Unlimited',
      endpointConfig: {
        endpoint_type: 'http',
        production_endpoints: { url: options.endpoint },
        sandbox_endpoints: { url: options.endpoint },
      },
    }),
  );
  const imported = expectStatus(
    'import-openapi',
    await apim.call('POST', `${PUBLISHER}/apis/import-openapi`, { token, body: form as never }),
    201,
  );
  const apiId = imported.body.id as string;

  if (options.requestSequence) {
    const policy = new FormData();
    const policyName = `${options.name}-in`.replace(/[^A-Za-z0-9_-]/g, '');
    policy.append(
      'policySpecFile',
      new Blob([
        JSON.stringify({
          category: 'Mediation',
          name: policyName,
          displayName: policyName,
          version: '1.0',
          applicableFlows: ['request'],
          supportedApiTypes: ['HTTP'],
          supportedGateways: ['Synapse'],
          policyAttributes: [],
        }),
      ]),
      'spec.json',
    );
    policy.append('synapsePolicyDefinitionFile', new Blob([options.requestSequence]), `${policyName}.xml`);
    const uploaded = expectStatus(
      'operation-policies',
      await apim.call('POST', `${PUBLISHER}/apis/${apiId}/operation-policies`, {
        token,
        body: policy as never,
      }),
      201,
    );
    const api = expectStatus(
      'get api',
      await apim.call('GET', `${PUBLISHER}/apis/${apiId}`, { token }),
      200,
    ).body;
    for (const operation of api.operations) {
      operation.operationPolicies = {
        request: [{ policyName, policyId: uploaded.body.id, policyVersion: '1.0', parameters: {} }],
        response: [],
        fault: [],
      };
    }
    expectStatus(
      'attach policy',
      await apim.call('PUT', `${PUBLISHER}/apis/${apiId}`, { token, json: api }),
      200,
    );
  }

  const revision = expectStatus(
    'revision',
    await apim.call('POST', `${PUBLISHER}/apis/${apiId}/revisions`, { token, json: { description: 'test' } }),
    201,
  );
  expectStatus(
    'deploy-revision',
    await apim.call('POST', `${PUBLISHER}/apis/${apiId}/deploy-revision?revisionId=${revision.body.id}`, {
      token,
      json: [
        {
          revisionUuid: revision.body.id,
          name: 'Default',
          vhost: options.vhost ?? 'localhost',
          displayOnDevportal: true,
        },
      ],
    }),
    201,
  );
  expectStatus(
    'publish',
    await apim.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${apiId}&action=Publish`, { token }),
    200,
  );
  return apiId;
}

// biome-ignore lint/suspicious/noExplicitAny: REST answers are read field by field
export function expectStatus<T extends { status: number; body: any }>(
  step: string,
  response: T,
  status: number,
): T {
  if (response.status !== status) {
    throw new Error(
      `${step}: expected HTTP ${status}, got ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
  return response;
}

/** A one-operation OpenAPI 3 definition with an unsecured GET. */
export function openDefinition(title: string, path: string): string {
  return JSON.stringify({
    openapi: '3.0.1',
    info: { title, version: '1.0' },
    paths: { [path]: { get: { 'x-auth-type': 'None', responses: { '200': { description: 'ok' } } } } },
  });
}
