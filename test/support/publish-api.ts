import type { PublisherApi } from '../../scripts/lib/api-client/publisher.ts';
import { WSO2_DEFAULTS } from '../../scripts/lib/target.ts';

/**
 * Publishing the gateway tests' echo APIs on api-manager with the scripts' API client (the DCR API is
 * published by the scripts' own `publishDcrApi`): import a definition, create a revision, deploy it to
 * the `Default` gateway environment and publish. A failed step throws the client's ApiCallError, which
 * names the call and the answer.
 */

export interface PublishOptions {
  definition: string;
  name: string;
  version: string;
  context: string;
  endpoint: string;
  vhost?: string;
}

export async function publishApi(publisher: PublisherApi, options: PublishOptions): Promise<string> {
  const { id } = await publisher.importOpenApi(
    { fileName: 'definition.yaml', content: options.definition },
    {
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
    },
  );

  const revision = await publisher.createRevision(id, 'test');
  await publisher.deployRevision(
    id,
    revision.id,
    WSO2_DEFAULTS.gatewayEnvironment,
    options.vhost ?? 'localhost',
  );
  await publisher.changeLifecycle(id, 'Publish');
  return id;
}

/** A one-operation OpenAPI 3 definition with an unsecured GET. */
export function openDefinition(title: string, path: string): string {
  return JSON.stringify({
    openapi: '3.0.1',
    info: { title, version: '1.0' },
    paths: { [path]: { get: { 'x-auth-type': 'None', responses: { '200': { description: 'ok' } } } } },
  });
}
