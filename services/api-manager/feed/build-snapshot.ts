import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { REVOCATION_FEED_PROPERTY } from '../../../lib/gateway-feed/revocations.ts';
import {
  type AppliedPolicy,
  AUDIENCE_PROPERTY,
  type AuthType,
  type DeployedApi,
  type GatewaySnapshot,
  type SnapshotApplication,
  type SnapshotKeyManager,
} from '../../../lib/gateway-feed/snapshot.ts';
import type { KeyManager } from '../admin/key-managers.ts';
import { keyManagerStoreOf } from '../admin/routes.ts';
import { SUBSCRIPTION_POLICIES } from '../admin/throttling-policies.ts';
import type { ApiManagerContext } from '../context.ts';
import { FLOWS, type PolicyRef, resolvedContext } from '../publisher/api-model.ts';
import { ApiStore } from '../publisher/api-store.ts';
import type { OperationAuthType } from '../publisher/definition.ts';
import { type FrozenPolicies, RevisionStore } from '../publisher/revisions.ts';

const SERVED_LIFECYCLES = new Set(['PUBLISHED', 'DEPRECATED']);

const AUTH_TYPES: Record<OperationAuthType, AuthType> = {
  None: 'None',
  Application: 'Application',
  'Application User': 'Application User',
  'Application & Application User': 'Any',
};

/**
 * Assembles the gateway snapshot from the current state: deployed revisions (as frozen at revision time)
 * of published or deprecated APIs, key managers, applications with subscriptions, tiers, and the
 * truststore. `version` hashes the content, so unchanged state keeps its ETag across replicas.
 */
export async function buildSnapshot(context: ApiManagerContext): Promise<GatewaySnapshot> {
  const apis = new ApiStore(context.db);
  const revisions = new RevisionStore(context.db);
  const deployments = await revisions.allDeployments();
  const deployedApis: DeployedApi[] = [];
  for (const api of await apis.list()) {
    if (!SERVED_LIFECYCLES.has(api.lifecycle)) continue;
    const byRevision = new Map<string, typeof deployments>();
    for (const deployment of deployments.filter((candidate) => candidate.apiId === api.id)) {
      byRevision.set(deployment.revisionId, [...(byRevision.get(deployment.revisionId) ?? []), deployment]);
    }
    for (const [revisionId, revisionDeployments] of byRevision) {
      const revision = await revisions.get(api.id, revisionId);
      const model = revision.model;
      const endpoints = model.endpointConfig;
      deployedApis.push({
        apiId: api.id,
        revisionId,
        revisionName: `Revision ${revision.number}`,
        name: api.name,
        version: api.version,
        context: resolvedContext(api.contextTemplate, api.version),
        lifeCycleStatus: api.lifecycle as 'PUBLISHED' | 'DEPRECATED',
        deployments: revisionDeployments.map((deployment) => ({
          environment: deployment.environment,
          vhost: deployment.vhost,
        })),
        // Business plans are the API's current ones (WSO2 does not revision them).
        policies: api.model.policies,
        apiThrottlingPolicy: model.apiThrottlingPolicy,
        authorizationHeader: model.authorizationHeader,
        endpoints: {
          production: endpoints?.production_endpoints?.url ?? null,
          sandbox: endpoints?.sandbox_endpoints?.url ?? null,
        },
        operations: model.operations.map((operation) => ({
          target: operation.target,
          verb: operation.verb,
          authType: AUTH_TYPES[operation.authType],
          scopes: operation.scopes,
          throttlingPolicy: operation.throttlingPolicy,
          operationPolicies: Object.fromEntries(
            FLOWS.map((flow) => [
              flow,
              operation.operationPolicies[flow].map((ref) => applied(ref, revision.policies)),
            ]),
          ) as Record<(typeof FLOWS)[number], AppliedPolicy[]>,
        })),
      });
    }
  }

  const keyManagers = (await keyManagerStoreOf(context).list()).map(snapshotKeyManager);

  const content = {
    apis: deployedApis,
    keyManagers,
    applications: await applications(context),
    subscriptionPolicies: SUBSCRIPTION_POLICIES.map(({ name, requestCount, unitTime, timeUnit }) => ({
      name,
      requestCount,
      unitTime,
      timeUnit,
    })),
    regulatoryApis: [...context.regulatoryApis],
    truststorePem: await readFile(context.config.obkit.tls.truststore, 'utf8').catch(() => null),
  };
  const version = createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 27);
  return { version, generatedAt: new Date().toISOString(), ...content };
}

/** A key manager as the gateway needs it: issuer, keys or introspection, claims and revocation feed. */
function snapshotKeyManager(keyManager: KeyManager): SnapshotKeyManager {
  return {
    id: keyManager.id,
    name: keyManager.name,
    type: keyManager.type,
    enabled: keyManager.enabled,
    issuer: keyManager.issuer,
    // The resident key manager's tokens name it (its issuer) besides the client (auth/tokens.ts).
    audience:
      keyManager.type === 'default'
        ? keyManager.issuer
        : stringProperty(keyManager.additionalProperties[AUDIENCE_PROPERTY]),
    jwksUri: keyManager.certificates?.type === 'JWKS' ? keyManager.certificates.value : null,
    certificatePem: keyManager.certificates?.type === 'PEM' ? keyManager.certificates.value : null,
    introspectionEndpoint: keyManager.introspectionEndpoint,
    revocationFeed: stringProperty(keyManager.additionalProperties[REVOCATION_FEED_PROPERTY]),
    tokenValidation: keyManager.tokenValidation.map(({ type, enable, value }) => ({ type, enable, value })),
    enableSelfValidationJWT: keyManager.enableSelfValidationJWT,
    consumerKeyClaim: keyManager.consumerKeyClaim,
    scopesClaim: keyManager.scopesClaim,
    enableMapOAuthConsumerApps: keyManager.enableMapOAuthConsumerApps,
  };
}

function applied(ref: PolicyRef, frozen: FrozenPolicies): AppliedPolicy {
  const policy = frozen[ref.policyId];
  // A revision freezes every policy it references, so a miss is a bug, not a user error.
  if (!policy) throw new Error(`revision lacks policy ${ref.policyId}`);
  return {
    policyId: ref.policyId,
    policyName: policy.name,
    policyVersion: policy.version,
    steps: policy.steps,
  };
}

async function applications(context: ApiManagerContext): Promise<SnapshotApplication[]> {
  const rows = await context.db.query<{ id: string; name: string; owner: string }>(
    'SELECT id, name, owner FROM applications ORDER BY id',
  );
  const keys = await context.db.query<{
    application_id: string;
    key_manager: string;
    consumer_key: string;
    key_type: 'PRODUCTION' | 'SANDBOX';
  }>(
    'SELECT application_id, key_manager, consumer_key, key_type FROM application_keys ORDER BY key_manager, consumer_key',
  );
  const subscriptions = await context.db.query<{
    id: string;
    application_id: string;
    api_id: string;
    throttling_policy: string;
    status: 'UNBLOCKED' | 'BLOCKED' | 'PROD_ONLY_BLOCKED';
  }>('SELECT id, application_id, api_id, throttling_policy, status FROM subscriptions ORDER BY id');
  return rows.rows.map((row) => ({
    applicationId: row.id,
    name: row.name,
    owner: row.owner,
    keys: keys.rows
      .filter((key) => key.application_id === row.id)
      .map((key) => ({ keyManager: key.key_manager, consumerKey: key.consumer_key, keyType: key.key_type })),
    subscriptions: subscriptions.rows
      .filter((subscription) => subscription.application_id === row.id)
      .map((subscription) => ({
        subscriptionId: subscription.id,
        apiId: subscription.api_id,
        throttlingPolicy: subscription.throttling_policy,
        status: subscription.status,
      })),
  }));
}

function stringProperty(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
