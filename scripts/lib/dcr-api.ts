import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { DCR_BACKEND_VAULT_ALIAS } from '../../lib/config/index.ts';
import { DCR_MOUNT } from '../../lib/wso2/identity-server-paths.ts';
import { DCR_API_NAME } from '../../lib/wso2/management-api.ts';
import type { ApiDto, ApiOperation, PublisherApi, RevisionDto } from './api-client/publisher.ts';
import { type FingerprintKey, fingerprint } from './fingerprint.ts';
import { type Progress, StepRecorder, type StepResult } from './report.ts';
import { WSO2_DEFAULTS } from './target.ts';

/**
 * The "publish the DCR API" console step: import the definition, point it at the identity server's DCR
 * endpoint, business plan Unlimited, upload and attach the request in-sequence (its credential a lookup
 * in the gateway's secure vault, never the value), create a revision (rotating the oldest undeployed one at
 * WSO2's limit of five), deploy it to the gateway environment (WSO2's `Default` unless told) with the
 * gateway's vhost, publish.
 *
 * Idempotence: the deployed revision's description carries a fingerprint of everything published
 * (definition, sequence, endpoint, gateway environment, vhost) — an HMAC (see fingerprint.ts). Same fingerprint deployed and nothing to fix → `unchanged`;
 * a run interrupted after any step leaves a state the next run recognises and completes.
 */

export const MAX_REVISIONS = 5;
const CONTEXT = '/open-banking/{version}';
const PLAN = 'Unlimited';
const SECURED = 'Application & Application User';

export interface PublishDcrApiOptions {
  definitionFile: string;
  inSequenceFile: string;
  identityServerUrl: string;
  vhost: string;
  /** The gateway environment to deploy to; default WSO2's `Default`. */
  gatewayEnvironment?: string;
  fingerprintKey: FingerprintKey;
  name?: string;
  progress?: Progress;
  /** configure --plan: report what would change, change nothing. */
  dryRun?: boolean;
}

export async function publishDcrApi(
  publisher: PublisherApi,
  options: PublishDcrApiOptions,
): Promise<StepResult> {
  const sequence = withVaultCredential(await readFile(options.inSequenceFile, 'utf8'));
  return publishApi(publisher, {
    ...options,
    step: 'publish-dcr-api',
    name: options.name ?? DCR_API_NAME,
    context: CONTEXT,
    endpoint: `${options.identityServerUrl.replace(/\/+$/, '')}${DCR_MOUNT}`,
    inSequence: {
      text: sequence,
      policyPrefix: 'obkitDcrInSequence',
      displayName: 'CDR DCR in-sequence (obkit)',
      description: `request mediation from ${basename(options.inSequenceFile)}, DCR backend credential from the gateway's vault`,
    },
  });
}

/** What `publishApi` publishes: one API from its definition, in front of one backend endpoint. */
export interface PublishApiOptions {
  /** The step's name in reports (`publish-dcr-api`, `publish-banking-api`). */
  step: string;
  name: string;
  /** The API context, `{version}` standing for the definition's version. */
  context: string;
  definitionFile: string;
  endpoint: string;
  /** A request mediation sequence attached to every operation, when the API has one. */
  inSequence?: { text: string; policyPrefix: string; displayName: string; description: string };
  vhost: string;
  gatewayEnvironment?: string | undefined;
  fingerprintKey: FingerprintKey;
  progress?: Progress | undefined;
  dryRun?: boolean | undefined;
}

/**
 * The publisher console's steps for one API, idempotent: import the definition (business plan
 * Unlimited, the endpoint), upload and attach the in-sequence when there is one, create a revision
 * (rotating the oldest undeployed one at the limit), deploy it with the vhost, publish.
 */
export async function publishApi(publisher: PublisherApi, options: PublishApiOptions): Promise<StepResult> {
  const step = new StepRecorder(options.step, options.progress, options.dryRun);
  const plan = await publishPlan(options);
  const existing = await ensureImported(publisher, plan, step);
  if (!existing) return step.result();
  const { policyName } = plan;
  const attached = policyName
    ? await attachedSequence(publisher, existing.id, policyName, options, step)
    : [];
  const api = await updatedApi(publisher, plan, existing, attached, step);
  await deployedRevision(publisher, plan, api.id, step);
  const status = (await publisher.getApi(api.id)).lifeCycleStatus;
  if (String(status).toUpperCase() !== 'PUBLISHED') {
    await step.apply(
      `published ${plan.name} ${plan.spec.version}`,
      { action: 'update', subject: plan.subject, fields: ['lifeCycleStatus'] },
      () => publisher.changeLifecycle(api.id, 'Publish'),
    );
  } else step.note(`${plan.name} ${plan.spec.version} published`);

  return step.result({
    apiId: api.id,
    context: String(api.context),
    policy: policyName ?? null,
    revision: plan.revisionDescription,
  });
}

type PublishPlan = Awaited<ReturnType<typeof publishPlan>>;

/** What the API should be: its definition, endpoint, in-sequence name and revision description (digests). */
async function publishPlan(options: PublishApiOptions) {
  const definition = await readFile(options.definitionFile, 'utf8');
  const spec = parseDefinition(definition, options.definitionFile);
  const environment = options.gatewayEnvironment ?? WSO2_DEFAULTS.gatewayEnvironment;
  const endpoint = options.endpoint;
  const digest = fingerprint(options.fingerprintKey, [
    definition,
    options.inSequence?.text ?? '',
    endpoint,
    options.vhost,
    PLAN,
    environment,
  ]);
  return {
    options,
    definition,
    spec,
    name: options.name,
    environment,
    endpointConfig: {
      endpoint_type: 'http',
      production_endpoints: { url: endpoint },
      sandbox_endpoints: { url: endpoint },
    },
    policyName: options.inSequence && `${options.inSequence.policyPrefix}${digest.slice(0, 8)}`,
    revisionDescription: `obkit ${digest}`,
    subject: `API ${options.name} ${spec.version}`,
  };
}

/** The API, imported when missing; undefined in a dry run that would import it (its steps recorded). */
async function ensureImported(
  publisher: PublisherApi,
  plan: PublishPlan,
  step: StepRecorder,
): Promise<ApiDto | undefined> {
  const { options, name, spec, subject, policyName, environment } = plan;
  const found = await publisher.findApi(name, spec.version);
  if (found) return found;
  const fileName = basename(options.definitionFile);
  const imported = await step.apply(
    `imported ${name} ${spec.version} from ${fileName}`,
    { action: 'create', subject },
    () =>
      publisher.importOpenApi(
        { fileName, content: plan.definition },
        {
          name,
          version: spec.version,
          context: options.context,
          policies: [PLAN],
          apiThrottlingPolicy: PLAN,
          endpointConfig: plan.endpointConfig,
        },
      ),
  );
  if (imported) return publisher.getApi(imported.id);
  // Dry run: everything below would be created for the new API.
  if (policyName) {
    step.record(`uploaded in-sequence policy ${policyName}`, {
      action: 'create',
      subject: `in-sequence policy ${policyName}`,
    });
  }
  step.record('created a revision', { action: 'create', subject: `revision "${plan.revisionDescription}"` });
  step.record(`deployed it to ${environment}`, {
    action: 'create',
    subject: `deployment to ${environment} (vhost ${options.vhost})`,
  });
  step.record(`published ${name} ${spec.version}`, {
    action: 'update',
    subject,
    fields: ['lifeCycleStatus'],
  });
  return undefined;
}

/** The API with the plan's business plan, endpoint and operations (the in-sequence attached), if it drifted. */
async function updatedApi(
  publisher: PublisherApi,
  plan: PublishPlan,
  existing: ApiDto,
  attached: Awaited<ReturnType<typeof attachedSequence>>,
  step: StepRecorder,
): Promise<ApiDto> {
  const wanted: ApiDto = {
    ...existing,
    policies: [PLAN],
    apiThrottlingPolicy: PLAN,
    endpointConfig: { ...existing.endpointConfig, ...plan.endpointConfig },
    operations: plan.spec.operations.map((operation) => {
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
  const drift = apiDrift(existing, wanted, Boolean(plan.policyName));
  if (!drift.length) return existing;
  return (
    (await step.apply(
      `updated ${plan.name} (${drift.join(', ')})`,
      { action: 'update', subject: plan.subject, fields: drift },
      () => publisher.updateApi(wanted),
    )) ?? existing
  );
}

/** A revision of the current content deployed to the environment (rotating the oldest at the limit). */
async function deployedRevision(
  publisher: PublisherApi,
  plan: PublishPlan,
  apiId: string,
  step: StepRecorder,
): Promise<void> {
  const { environment, revisionDescription, name } = plan;
  const { vhost } = plan.options;
  const revisions = await publisher.listRevisions(apiId);
  const isDeployed = (r: RevisionDto) => (r.deploymentInfo ?? []).some((d) => d.name === environment);
  const current = revisions.find((r) => isDeployed(r) && r.description === revisionDescription);
  if (current && !step.changed) {
    step.note(`${current.displayName ?? current.id} deployed to ${environment}`);
    return;
  }
  // A revision created by an interrupted run (same content, never deployed) is deployed as is.
  let revision = step.changed
    ? undefined
    : revisions.find((r) => !isDeployed(r) && r.description === revisionDescription);
  if (!revision) {
    if (revisions.length >= MAX_REVISIONS) {
      const oldest = oldestUndeployed(revisions, isDeployed);
      if (!oldest)
        throw new Error(`${name} has ${revisions.length} revisions, all deployed: undeploy one first`);
      await step.apply(
        `deleted oldest undeployed revision ${oldest.displayName ?? oldest.id} (limit ${MAX_REVISIONS})`,
        { action: 'delete', subject: `revision ${oldest.displayName ?? oldest.id}` },
        () => publisher.deleteRevision(apiId, oldest.id),
      );
    }
    revision = await step.apply(
      'created a revision',
      { action: 'create', subject: `revision "${revisionDescription}"` },
      () => publisher.createRevision(apiId, revisionDescription),
    );
  }
  const deploying = revision;
  await step.apply(
    `deployed ${deploying?.displayName ?? deploying?.id ?? 'the new revision'} to ${environment} (vhost ${vhost})`,
    { action: current ? 'update' : 'create', subject: `deployment to ${environment} (vhost ${vhost})` },
    () => publisher.deployRevision(apiId, deploying!.id, environment, vhost),
  );
}

/** The in-sequence policy uploaded once per content (its name carries the digest), as operations attach it. */
async function attachedSequence(
  publisher: PublisherApi,
  apiId: string,
  policyName: string,
  options: PublishApiOptions,
  step: StepRecorder,
): Promise<NonNullable<NonNullable<ApiOperation['operationPolicies']>['request']>> {
  const inSequence = options.inSequence!;
  const policies = await publisher.listOperationPolicies(apiId);
  let policy = policies.find((p) => p.name === policyName);
  if (!policy) {
    policy = await step.apply(
      `uploaded in-sequence policy ${policyName}`,
      { action: 'create', subject: `in-sequence policy ${policyName}` },
      () =>
        publisher.addOperationPolicy(
          apiId,
          {
            category: 'Mediation',
            name: policyName,
            displayName: inSequence.displayName,
            description: inSequence.description,
            version: '1.0',
            applicableFlows: ['request', 'response', 'fault'],
            supportedApiTypes: ['HTTP'],
            supportedGateways: ['Synapse'],
            policyAttributes: [],
          },
          inSequence.text,
        ),
    );
  }
  // Dry run: the policy would be uploaded first; its id is not known yet.
  return [{ policyName, policyId: policy?.id ?? '(new)', policyVersion: '1.0', parameters: {} }];
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
 * The in-sequence with the gateway's DCR backend credential looked up from the gateway's secure vault
 * (`wso2:vault-lookup('obkit.dcr.backend.authorization')`), never written into it: ours already says so;
 * the literal `Authorization: Basic …` of WSO2's reference sequence is replaced by that lookup.
 */
export function withVaultCredential(sequence: string): string {
  if (sequence.includes('{{ADMIN_BASIC}}')) {
    throw new Error(
      `the in-sequence has an {{ADMIN_BASIC}} placeholder: credentials are no longer templated in; use wso2:vault-lookup('${DCR_BACKEND_VAULT_ALIAS}') as apis/cdr-dcr/0.2/insequence.xml does`,
    );
  }
  let found = 0;
  const rendered = sequence.replace(/<header\b[^>]*>/g, (tag) => {
    if (!/\bname\s*=\s*"Authorization"/i.test(tag) || /\baction\s*=\s*"remove"/.test(tag)) return tag;
    if (/\bexpression\s*=\s*"wso2:vault-lookup\('[^']+'\)"/.test(tag)) {
      found++;
      return tag;
    }
    if (!/\bvalue\s*=\s*"Basic [^"]*"/.test(tag)) return tag;
    found++;
    return tag.replace(
      /\bvalue\s*=\s*"Basic [^"]*"/,
      `expression="wso2:vault-lookup('${DCR_BACKEND_VAULT_ALIAS}')"`,
    );
  });
  if (!found) {
    throw new Error(
      'the in-sequence sets no Authorization header (a wso2:vault-lookup expression, or a Basic value to replace by one)',
    );
  }
  return rendered;
}

function apiDrift(current: ApiDto, wanted: ApiDto, withSequence: boolean): string[] {
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
    (withSequence && !current.operations?.length)
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
