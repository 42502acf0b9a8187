import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { ApiDto, ApiOperation, Credentials, PublisherApi, RevisionDto } from './api-client.ts';
import { type Progress, StepRecorder, type StepResult } from './report.ts';

/**
 * The "publish the DCR API" console step: import the definition, point it at the identity server's DCR
 * endpoint, business plan Unlimited, upload and attach the request in-sequence with the identity
 * server's real admin credential templated in, create a revision (rotating the oldest undeployed one at
 * WSO2's limit of five), deploy it to the `Default` gateway with the gateway's vhost, publish.
 *
 * Idempotence: the deployed revision's description carries a fingerprint of everything published
 * (definition, sequence, endpoint, vhost). Same fingerprint deployed and nothing to fix → `unchanged`;
 * a run interrupted after any step leaves a state the next run recognises and completes.
 */

export const DCR_API_NAME = 'CDRDynamicClientRegistrationAPI';
export const MAX_REVISIONS = 5;
export const GATEWAY_ENVIRONMENT = 'Default';
const CONTEXT = '/open-banking/{version}';
const PLAN = 'Unlimited';
const SECURED = 'Application & Application User';

export interface PublishDcrApiOptions {
  definitionFile: string;
  inSequenceFile: string;
  identityServerUrl: string;
  /** The identity server admin whose Basic credential the in-sequence sends to the DCR backend. */
  identityServerAdmin: Credentials;
  vhost: string;
  name?: string;
  progress?: Progress;
}

export async function publishDcrApi(
  publisher: PublisherApi,
  options: PublishDcrApiOptions,
): Promise<StepResult> {
  const step = new StepRecorder('publish-dcr-api', options.progress);
  const definition = await readFile(options.definitionFile, 'utf8');
  const spec = parseDefinition(definition, options.definitionFile);
  const sequence = renderInSequence(
    await readFile(options.inSequenceFile, 'utf8'),
    options.identityServerAdmin,
  );
  const name = options.name ?? DCR_API_NAME;
  const endpoint = `${options.identityServerUrl.replace(/\/+$/, '')}/api/openbanking/dynamic-client-registration`;
  const endpointConfig = {
    endpoint_type: 'http',
    production_endpoints: { url: endpoint },
    sandbox_endpoints: { url: endpoint },
  };
  const digest = createHash('sha256')
    .update(JSON.stringify([definition, sequence, endpoint, options.vhost, PLAN]))
    .digest('hex')
    .slice(0, 16);
  const policyName = `obkitDcrInSequence${digest.slice(0, 8)}`;
  const revisionDescription = `obkit ${digest}`;

  let api = await publisher.findApi(name, spec.version);
  if (!api) {
    api = await publisher.importOpenApi(
      { fileName: basename(options.definitionFile), content: definition },
      {
        name,
        version: spec.version,
        context: CONTEXT,
        policies: [PLAN],
        apiThrottlingPolicy: PLAN,
        endpointConfig,
      },
    );
    step.change(`imported ${name} ${spec.version} from ${basename(options.definitionFile)}`);
    api = await publisher.getApi(api.id);
  }

  const policies = await publisher.listOperationPolicies(api.id);
  let policy = policies.find((p) => p.name === policyName);
  if (!policy) {
    policy = await publisher.addOperationPolicy(
      api.id,
      {
        category: 'Mediation',
        name: policyName,
        displayName: 'CDR DCR in-sequence (obkit)',
        description: `request mediation from ${basename(options.inSequenceFile)}, admin credential templated`,
        version: '1.0',
        applicableFlows: ['request', 'response', 'fault'],
        supportedApiTypes: ['HTTP'],
        supportedGateways: ['Synapse'],
        policyAttributes: [],
      },
      sequence,
    );
    step.change(`uploaded in-sequence policy ${policyName}`);
  }
  const attached = [{ policyName, policyId: policy.id, policyVersion: '1.0', parameters: {} }];

  const existing: ApiDto = api;
  const wanted: ApiDto = {
    ...existing,
    policies: [PLAN],
    apiThrottlingPolicy: PLAN,
    endpointConfig: { ...existing.endpointConfig, ...endpointConfig },
    operations: spec.operations.map((operation) => {
      const current = existing.operations?.find(
        (o) => o.verb === operation.verb && o.target === operation.target,
      );
      return {
        ...current,
        ...operation,
        ...(current?.authType && (current.authType === 'None') === (operation.authType === 'None')
          ? { authType: current.authType }
          : {}),
        operationPolicies: { ...current?.operationPolicies, request: attached },
      };
    }),
  };
  const drift = apiDrift(api, wanted);
  if (drift.length) {
    api = await publisher.updateApi(wanted);
    step.change(`updated ${name} (${drift.join(', ')})`);
  }

  const revisions = await publisher.listRevisions(api.id);
  const isDeployed = (r: RevisionDto) => (r.deploymentInfo ?? []).some((d) => d.name === GATEWAY_ENVIRONMENT);
  const current = revisions.find((r) => isDeployed(r) && r.description === revisionDescription);
  if (!current || step.changed) {
    // A revision created by an interrupted run (same content, never deployed) is deployed as is.
    let revision = step.changed
      ? undefined
      : revisions.find((r) => !isDeployed(r) && r.description === revisionDescription);
    if (!revision) {
      if (revisions.length >= MAX_REVISIONS) {
        const oldest = oldestUndeployed(revisions, isDeployed);
        if (!oldest)
          throw new Error(`${name} has ${revisions.length} revisions, all deployed: undeploy one first`);
        await publisher.deleteRevision(api.id, oldest.id);
        step.change(
          `deleted oldest undeployed revision ${oldest.displayName ?? oldest.id} (limit ${MAX_REVISIONS})`,
        );
      }
      revision = await publisher.createRevision(api.id, revisionDescription);
      step.change(`created ${revision.displayName ?? `revision ${revision.id}`}`);
    }
    await publisher.deployRevision(api.id, revision.id, GATEWAY_ENVIRONMENT, options.vhost);
    step.change(
      `deployed ${revision.displayName ?? revision.id} to ${GATEWAY_ENVIRONMENT} (vhost ${options.vhost})`,
    );
  } else step.note(`${current.displayName ?? current.id} deployed to ${GATEWAY_ENVIRONMENT}`);

  const status = (await publisher.getApi(api.id)).lifeCycleStatus;
  if (String(status).toUpperCase() !== 'PUBLISHED') {
    await publisher.changeLifecycle(api.id, 'Publish');
    step.change(`published ${name} ${spec.version}`);
  } else step.note(`${name} ${spec.version} published`);

  return step.result({
    apiId: api.id,
    context: String(api.context),
    policy: policyName,
    revision: revisionDescription,
  });
}

/** The operations a definition declares (Swagger 2.0 or OpenAPI 3), with WSO2's `x-auth-type`. */
export function parseDefinition(
  text: string,
  file = 'definition',
): { version: string; operations: ApiOperation[] } {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${file} is not YAML or JSON: ${(error as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || !(doc.swagger || doc.openapi) || typeof doc.paths !== 'object') {
    throw new Error(`${file} is not a Swagger 2.0 or OpenAPI 3 definition`);
  }
  const version = String((doc.info as { version?: unknown } | undefined)?.version ?? '');
  if (!version) throw new Error(`${file} has no info.version`);
  const operations: ApiOperation[] = [];
  for (const [target, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const [method, op] of Object.entries(item ?? {})) {
      if (!['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(method)) continue;
      const operation = (op ?? {}) as Record<string, unknown>;
      operations.push({
        target,
        verb: method.toUpperCase(),
        authType: operation['x-auth-type'] === 'None' ? 'None' : SECURED,
        throttlingPolicy:
          typeof operation['x-throttling-tier'] === 'string' ? operation['x-throttling-tier'] : PLAN,
      });
    }
  }
  if (!operations.length) throw new Error(`${file} declares no operations`);
  return { version, operations };
}

/**
 * The in-sequence with the real admin credential: our template's `{{ADMIN_BASIC}}` placeholder, or the
 * Basic value of an `Authorization` header mediator (WSO2's reference sequence carries a sample one).
 */
export function renderInSequence(template: string, admin: Credentials): string {
  const basic = Buffer.from(`${admin.username}:${admin.password}`).toString('base64');
  if (template.includes('{{ADMIN_BASIC}}')) return template.replaceAll('{{ADMIN_BASIC}}', basic);
  let replaced = 0;
  const rendered = template.replace(/<header\b[^>]*>/g, (tag) => {
    if (!/\bname\s*=\s*"Authorization"/i.test(tag) || !/\bvalue\s*=\s*"Basic [^"]*"/.test(tag)) return tag;
    replaced++;
    return tag.replace(/\bvalue\s*=\s*"Basic [^"]*"/, `value="Basic ${basic}"`);
  });
  if (!replaced) {
    throw new Error(
      'the in-sequence has neither {{ADMIN_BASIC}} nor an Authorization header mediator with a Basic value',
    );
  }
  return rendered;
}

function apiDrift(current: ApiDto, wanted: ApiDto): string[] {
  const drift: string[] = [];
  if (!isDeepStrictEqual(current.policies, wanted.policies)) drift.push('business plans');
  if (current.apiThrottlingPolicy !== wanted.apiThrottlingPolicy) drift.push('API throttling policy');
  const url = (config: unknown, which: string) =>
    (config as Record<string, { url?: string }> | undefined)?.[which]?.url;
  if (
    url(current.endpointConfig, 'production_endpoints') !==
      url(wanted.endpointConfig, 'production_endpoints') ||
    url(current.endpointConfig, 'sandbox_endpoints') !== url(wanted.endpointConfig, 'sandbox_endpoints')
  ) {
    drift.push('endpoint');
  }
  const key = (o: ApiOperation) => `${o.verb} ${o.target} ${o.authType === 'None' ? 'none' : 'secured'}`;
  const have = (current.operations ?? []).map(key).sort();
  const want = (wanted.operations ?? []).map(key).sort();
  if (!isDeepStrictEqual(have, want)) drift.push('operations');
  const policyNames = (o: ApiOperation) =>
    (o.operationPolicies?.request ?? []).map((p) => p.policyName).join(',');
  const wantedPolicy = policyNames(wanted.operations?.[0] ?? { target: '', verb: '' });
  if (
    (current.operations ?? []).some((o) => policyNames(o) !== wantedPolicy) ||
    !current.operations?.length
  ) {
    drift.push('in-sequence attachment');
  }
  return drift;
}

function oldestUndeployed(
  revisions: RevisionDto[],
  isDeployed: (r: RevisionDto) => boolean,
): RevisionDto | undefined {
  const number = (r: RevisionDto) =>
    Number(/(\d+)$/.exec(r.displayName ?? '')?.[1] ?? Number.MAX_SAFE_INTEGER);
  const created = (r: RevisionDto) => {
    if (r.createdTime === undefined) return number(r);
    const epoch = Number(r.createdTime);
    return Number.isNaN(epoch) ? Date.parse(String(r.createdTime)) || number(r) : epoch;
  };
  return revisions
    .filter((r) => !isDeployed(r))
    .sort((a, b) => created(a) - created(b) || number(a) - number(b))[0];
}
