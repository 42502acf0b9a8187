import {
  type AuthType,
  type DeployedApi,
  type GatewaySnapshot,
  type MediationExpression,
  type MediationStep,
  parseMediationExpression,
  type SnapshotKeyManager,
  type SubscriptionPolicy,
} from '../../lib/gateway-feed/snapshot.ts';
import type { Quota } from './rate-limit.ts';

/**
 * A snapshot compiled once, when it arrives, into what the request path looks up: routes per vhost
 * with precompiled templates, key managers by issuer, consumer keys to applications, plans as quotas,
 * and mediation expressions already parsed. Requests never walk the raw snapshot.
 */
export interface Runtime {
  version: string;
  snapshot: GatewaySnapshot;
  apisByHost: Map<string, CompiledApi[]>;
  keyManagersByIssuer: Map<string, SnapshotKeyManager>;
  keyManagers: SnapshotKeyManager[];
  /** `<key manager name>\0<consumer key>` → the application holding that key. */
  applicationsByKey: Map<string, ApplicationKey>;
  plans: Map<string, Quota | null>;
  regulatoryApis: Set<string>;
  /** Every `wso2:vault-lookup` alias the deployed sequences use (checked against the store on load). */
  vaultAliases: string[];
}

export interface ApplicationKey {
  applicationId: string;
  keyType: 'PRODUCTION' | 'SANDBOX';
  /** apiId → subscription. */
  subscriptions: Map<string, { throttlingPolicy: string; status: string }>;
}

export interface Endpoint {
  origin: string;
  /** Path prefix of the endpoint URL, without a trailing slash. */
  basePath: string;
}

export interface CompiledApi {
  api: DeployedApi;
  context: string;
  authorizationHeader: string;
  production: Endpoint | null;
  sandbox: Endpoint | null;
  operations: CompiledOperation[];
}

export interface CompiledStep {
  step: MediationStep;
  expression: MediationExpression | undefined;
  /** Lower-case header name for transport-scope steps. */
  header: string;
}

export interface CompiledOperation {
  verb: string;
  target: string;
  pattern: RegExp;
  secured: boolean;
  authType: AuthType;
  scopes: string[];
  /** WSO2's DCR executor: the path's `{ClientId}` must be the token's client. */
  clientIdParameter: boolean;
  request: CompiledStep[];
  response: CompiledStep[];
  fault: CompiledStep[];
}

const UNIT_MS = { sec: 1000, min: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export function compileSnapshot(snapshot: GatewaySnapshot, environment: string): Runtime {
  const apisByHost = new Map<string, CompiledApi[]>();
  const vaultAliases: string[] = [];
  for (const api of snapshot.apis) {
    const compiled = compileApi(api);
    for (const operation of compiled.operations) {
      for (const { expression } of [...operation.request, ...operation.response, ...operation.fault]) {
        if (expression?.type === 'vaultLookup') vaultAliases.push(expression.alias);
      }
    }
    for (const deployment of api.deployments) {
      if (deployment.environment !== environment) continue;
      const host = deployment.vhost.toLowerCase();
      const list = apisByHost.get(host) ?? [];
      list.push(compiled);
      apisByHost.set(host, list);
    }
  }
  // Longest context first, so `/a/b/1.0` wins over `/a/1.0` when both could match.
  for (const list of apisByHost.values()) list.sort((a, b) => b.context.length - a.context.length);

  const keyManagersByIssuer = new Map<string, SnapshotKeyManager>();
  for (const keyManager of snapshot.keyManagers) {
    if (keyManager.issuer) keyManagersByIssuer.set(keyManager.issuer, keyManager);
  }
  const applicationsByKey = new Map<string, ApplicationKey>();
  for (const application of snapshot.applications) {
    const subscriptions = new Map(
      application.subscriptions.map((s) => [
        s.apiId,
        { throttlingPolicy: s.throttlingPolicy, status: s.status },
      ]),
    );
    for (const key of application.keys) {
      applicationsByKey.set(applicationKeyOf(key.keyManager, key.consumerKey), {
        applicationId: application.applicationId,
        keyType: key.keyType,
        subscriptions,
      });
    }
  }
  return {
    version: snapshot.version,
    snapshot,
    apisByHost,
    keyManagersByIssuer,
    keyManagers: snapshot.keyManagers,
    applicationsByKey,
    plans: new Map(snapshot.subscriptionPolicies.map((policy) => [policy.name, quotaOf(policy)])),
    regulatoryApis: new Set(snapshot.regulatoryApis),
    vaultAliases,
  };
}

export function applicationKeyOf(keyManager: string, consumerKey: string): string {
  return `${keyManager}\u0000${consumerKey}`;
}

function quotaOf(policy: SubscriptionPolicy): Quota | null {
  if (policy.requestCount === null) return null;
  return { count: policy.requestCount, windowMs: policy.unitTime * UNIT_MS[policy.timeUnit] };
}

function compileApi(api: DeployedApi): CompiledApi {
  const operations = api.operations.map((operation) => ({
    verb: operation.verb.toUpperCase(),
    target: operation.target,
    pattern: templatePattern(operation.target),
    secured: operation.authType !== 'None',
    authType: operation.authType,
    scopes: operation.scopes,
    clientIdParameter: /\/register\/\{ClientId\}$/.test(operation.target),
    request: compileSteps(operation.operationPolicies.request.flatMap((policy) => policy.steps)),
    response: compileSteps(operation.operationPolicies.response.flatMap((policy) => policy.steps)),
    fault: compileSteps(operation.operationPolicies.fault.flatMap((policy) => policy.steps)),
  }));
  // Literal templates before parameterised ones, so `/register/search` beats `/register/{ClientId}`.
  operations.sort((a, b) => specificity(b.target) - specificity(a.target));
  return {
    api,
    context: api.context.replace(/\/+$/, ''),
    authorizationHeader: api.authorizationHeader.toLowerCase(),
    production: endpointOf(api.endpoints.production),
    sandbox: endpointOf(api.endpoints.sandbox),
    operations,
  };
}

function compileSteps(steps: MediationStep[]): CompiledStep[] {
  return steps.map((step) => ({
    step,
    expression: step.expression === undefined ? undefined : parseMediationExpression(step.expression),
    header: step.name.toLowerCase(),
  }));
}

function endpointOf(url: string | null): Endpoint | null {
  if (!url) return null;
  const parsed = new URL(url);
  return { origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, '') };
}

/** `/register/{ClientId}` → `^/register/([^/]+)$`; a trailing `/*` matches any rest of the path. */
export function templatePattern(target: string): RegExp {
  const normalised = target === '' ? '/' : target;
  let source = '';
  for (const segment of normalised.split('/').slice(1)) {
    if (segment === '*') source += '(?:/.*)?';
    else if (/^\{[^}]+\}$/.test(segment)) source += '/([^/]+)';
    else source += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  }
  return new RegExp(`^${source || '/'}/?$`);
}

function specificity(target: string): number {
  return target.split('/').filter((segment) => segment && !segment.startsWith('{') && segment !== '*').length;
}
