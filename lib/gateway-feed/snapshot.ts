import { z } from 'zod';

/**
 * The gateway configuration snapshot: everything a gateway needs to serve traffic, as api-manager
 * publishes it on `GET /internal/gateway/v1/snapshot` (ETag = `"<version>"`, `If-None-Match` → 304,
 * `?wait=<seconds>` holds the request until the snapshot changes or the wait ends, then 304).
 * Only connections authenticated with the gateway's internal client certificate may read it.
 *
 * The gateway keeps the last good snapshot (validated with `gatewaySnapshotSchema`) and serves it while
 * api-manager is down. Everything here is already resolved: the gateway never needs another call.
 */

export const SNAPSHOT_PATH = '/internal/gateway/v1/snapshot';

/** The additionalProperties key of a KeyManagerDTO that names the `aud` of its access tokens. */
export const AUDIENCE_PROPERTY = 'audience';

/**
 * One step of a Synapse mediation sequence the native gateway runs. `expression` is kept as written in
 * the XML and is one of: `get-property('api.ut.consumerKey')`, `get-property('api.ut.userName')`,
 * `$trp:<header>`, or a quoted string literal (see `parseMediationExpression`). `value` is a literal.
 * A `set` step has exactly one of `value` / `expression`; a `remove` step has neither.
 */
export const mediationStepSchema = z.object({
  kind: z.enum(['header', 'property']),
  name: z.string().min(1),
  action: z.enum(['set', 'remove']),
  /** `transport` = an HTTP header of the message; `default` = a message-context property. */
  scope: z.enum(['transport', 'default']),
  value: z.string().optional(),
  expression: z.string().optional(),
});
export type MediationStep = z.infer<typeof mediationStepSchema>;

/** An operation policy attached to an operation, with its sequence already parsed. */
export const appliedPolicySchema = z.object({
  policyId: z.string(),
  policyName: z.string(),
  policyVersion: z.string(),
  steps: z.array(mediationStepSchema),
});
export type AppliedPolicy = z.infer<typeof appliedPolicySchema>;

/** WSO2's operation auth types: `None` = unsecured; the others require an OAuth2 token. */
export const authTypeSchema = z.enum(['None', 'Application', 'Application User', 'Any']);
export type AuthType = z.infer<typeof authTypeSchema>;

export const snapshotOperationSchema = z.object({
  /** URI template relative to the API context, e.g. `/register/{ClientId}`. */
  target: z.string(),
  /** Upper case HTTP method. */
  verb: z.string(),
  authType: authTypeSchema,
  /** Every listed scope is required of the token (WSO2 checks that the token holds one of the operation's scopes; obkit's operations carry at most one). */
  scopes: z.array(z.string()),
  throttlingPolicy: z.string(),
  operationPolicies: z.object({
    request: z.array(appliedPolicySchema),
    response: z.array(appliedPolicySchema),
    fault: z.array(appliedPolicySchema),
  }),
});
export type SnapshotOperation = z.infer<typeof snapshotOperationSchema>;

/** A revision deployed to a gateway environment, of an API in lifecycle PUBLISHED or DEPRECATED. */
export const deployedApiSchema = z.object({
  apiId: z.string(),
  revisionId: z.string(),
  /** `Revision N`. */
  revisionName: z.string(),
  name: z.string(),
  version: z.string(),
  /** The context with `{version}` resolved, e.g. `/open-banking/0.2`; requests match `<context><target>`. */
  context: z.string(),
  lifeCycleStatus: z.enum(['PUBLISHED', 'DEPRECATED']),
  /** Where the revision is deployed: a gateway environment name and one of its vhosts. */
  deployments: z.array(z.object({ environment: z.string(), vhost: z.string() })),
  /** Business plans (subscription throttling policies) an application may subscribe with. */
  policies: z.array(z.string()),
  apiThrottlingPolicy: z.string().nullable(),
  /** Header carrying the token (WSO2's `authorizationHeader`, default `Authorization`). */
  authorizationHeader: z.string(),
  endpoints: z.object({ production: z.string().nullable(), sandbox: z.string().nullable() }),
  operations: z.array(snapshotOperationSchema),
});
export type DeployedApi = z.infer<typeof deployedApiSchema>;

export const tokenValidationSchema = z.object({
  type: z.enum(['REFERENCE', 'JWT', 'CUSTOM']),
  enable: z.boolean(),
  value: z.unknown().optional(),
});

export const snapshotKeyManagerSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  enabled: z.boolean(),
  /** `iss` of its tokens: the gateway picks the key manager of a JWT by issuer. */
  issuer: z.string().nullable(),
  /**
   * The `aud` its access tokens carry for the APIs behind this gateway (RFC 9068), from the
   * KeyManagerDTO's `additionalProperties.audience`; tokens without it are refused, and so is every
   * token of a key manager that names none.
   */
  audience: z.string().nullable().default(null),
  /** JWKS URL (from `certificates` of type JWKS); null when it publishes a PEM instead. */
  jwksUri: z.string().nullable(),
  /** PEM certificate (from `certificates` of type PEM). */
  certificatePem: z.string().nullable(),
  introspectionEndpoint: z.string().nullable(),
  /**
   * The identity server's revocation feed (revocations.ts), from the KeyManagerDTO's
   * `additionalProperties.revocation_feed_endpoint`: the gateway refuses this key manager's revoked
   * tokens, cached or not, within seconds. Null: only expiry ends a self-validated token.
   */
  revocationFeed: z
    .url({ protocol: /^https$/ })
    .nullable()
    .default(null),
  tokenValidation: z.array(tokenValidationSchema),
  enableSelfValidationJWT: z.boolean(),
  /** Claim naming the token's client (consumer key), default `azp`. */
  consumerKeyClaim: z.string(),
  /** Claim holding the token's scopes (space separated string or array), default `scope`. */
  scopesClaim: z.string(),
  /**
   * Out-of-band provisioning: any valid token of this key manager counts as subscribed (plan
   * Unlimited) to every API named in `regulatoryApis`, without an application or subscription here —
   * how WSO2's OB gateway lets a client registered by CDR DCR manage its own registration.
   */
  enableMapOAuthConsumerApps: z.boolean(),
});
export type SnapshotKeyManager = z.infer<typeof snapshotKeyManagerSchema>;

export const snapshotApplicationSchema = z.object({
  applicationId: z.string(),
  name: z.string(),
  owner: z.string(),
  /** Consumer keys of this application, each issued by one key manager (by name). */
  keys: z.array(
    z.object({ keyManager: z.string(), consumerKey: z.string(), keyType: z.enum(['PRODUCTION', 'SANDBOX']) }),
  ),
  subscriptions: z.array(
    z.object({
      subscriptionId: z.string(),
      apiId: z.string(),
      /** The business plan the subscription was made with (a `subscriptionPolicies` name). */
      throttlingPolicy: z.string(),
      status: z.enum(['UNBLOCKED', 'BLOCKED', 'PROD_ONLY_BLOCKED']),
    }),
  ),
});
export type SnapshotApplication = z.infer<typeof snapshotApplicationSchema>;

export const subscriptionPolicySchema = z.object({
  name: z.string(),
  /** Requests allowed per `unitTime` `timeUnit`; null = unlimited. */
  requestCount: z.number().int().positive().nullable(),
  unitTime: z.number().int().positive(),
  timeUnit: z.enum(['sec', 'min', 'hour', 'day']),
});
export type SubscriptionPolicy = z.infer<typeof subscriptionPolicySchema>;

export const gatewaySnapshotSchema = z.object({
  /** Content hash: equal versions mean equal content. The ETag is `"<version>"`. */
  version: z.string().min(1),
  generatedAt: z.string(),
  apis: z.array(deployedApiSchema),
  keyManagers: z.array(snapshotKeyManagerSchema),
  applications: z.array(snapshotApplicationSchema),
  subscriptionPolicies: z.array(subscriptionPolicySchema),
  /** API names reachable by out-of-band provisioned clients (see `enableMapOAuthConsumerApps`). */
  regulatoryApis: z.array(z.string()),
  /** The recipients' truststore bundle api-manager was configured with (PEM), or null when unreadable. */
  truststorePem: z.string().nullable(),
});
export type GatewaySnapshot = z.infer<typeof gatewaySnapshotSchema>;

export type { MediationExpression } from './synapse.ts';
export { parseMediationExpression, parseSynapseSequence, SequenceError } from './synapse.ts';
