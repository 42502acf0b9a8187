import { z } from 'zod';
import { isSubscriptionPolicy, UNLIMITED } from '../admin/throttling-policies.ts';
import { badRequest } from '../request.ts';
import type { OperationAuthType } from './definition.ts';

/** An attached operation policy, as in WSO2's `operations[].operationPolicies.<flow>[]`. */
export interface PolicyRef {
  policyName: string;
  policyId: string;
  policyVersion: string;
  parameters: Record<string, unknown>;
}

export type Flow = 'request' | 'response' | 'fault';
export const FLOWS: readonly Flow[] = ['request', 'response', 'fault'];

export interface StoredOperation {
  target: string;
  verb: string;
  authType: OperationAuthType;
  throttlingPolicy: string;
  scopes: string[];
  operationPolicies: Record<Flow, PolicyRef[]>;
}

export interface EndpointConfig {
  endpoint_type: 'http';
  production_endpoints?: { url: string; [key: string]: unknown };
  sandbox_endpoints?: { url: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Everything about an API besides its identity columns; stored as `apis.dto` and frozen in revisions. */
export interface ApiModel {
  description: string;
  provider: string;
  tags: string[];
  policies: string[];
  apiThrottlingPolicy: string | null;
  authorizationHeader: string;
  endpointConfig: EndpointConfig | null;
  scopes: { name: string; description: string; bindings: string[] }[];
  operations: StoredOperation[];
}

export interface ApiRecord {
  id: string;
  name: string;
  version: string;
  contextTemplate: string;
  lifecycle: string;
  model: ApiModel;
  createdAt: Date;
  updatedAt: Date;
}

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

export const endpointConfigSchema = z.looseObject({
  endpoint_type: z.literal('http', { error: 'only http endpoints are supported' }),
  production_endpoints: z.looseObject({ url: httpUrl }).optional(),
  sandbox_endpoints: z.looseObject({ url: httpUrl }).optional(),
});

export const policiesSchema = z.array(
  z
    .string()
    .refine(isSubscriptionPolicy, { error: 'unknown business plan (Unlimited, Gold, Silver, Bronze)' }),
);

export const apiThrottlingSchema = z
  .string()
  .refine((value) => value === UNLIMITED, { error: `only ${UNLIMITED} is supported` })
  .nullable();

/** `/open-banking/{version}`-style context templates; a template without `{version}` gets it appended. */
export function contextTemplateOf(context: string): string {
  const trimmed = context.trim().replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9/{}._~-]*$/.test(trimmed) || trimmed.includes('//')) {
    throw badRequest(`invalid field context: ${context} is not a valid API context`);
  }
  return trimmed.includes('{version}') ? trimmed : `${trimmed}/{version}`;
}

/** What WSO2 returns as `context`: the template without a trailing `/{version}`. */
export function displayContext(template: string): string {
  return template.endsWith('/{version}') ? template.slice(0, -'/{version}'.length) : template;
}

export function resolvedContext(template: string, version: string): string {
  return template.replaceAll('{version}', version);
}

/** The APIDTO fields obkit does not model: the same for every API (WSO2's defaults). */
const FIXED_API_FIELDS = {
  wsdlInfo: null,
  responseCachingEnabled: false,
  cacheTimeout: 300,
  hasThumbnail: false,
  isDefaultVersion: false,
  isRevision: false,
  revisionedApiId: null,
  revisionId: 0,
  enableSchemaValidation: false,
  type: 'HTTP',
  audience: null,
  transport: ['http', 'https'],
  securityScheme: ['oauth2', 'oauth_basic_auth_api_key_mandatory'],
  visibility: 'PUBLIC',
  visibleRoles: [],
  visibleTenants: [],
  subscriptionAvailability: 'CURRENT_TENANT',
  subscriptionAvailableTenants: [],
  additionalProperties: [],
  additionalPropertiesMap: {},
  accessControl: 'NONE',
  accessControlRoles: [],
  businessInformation: {},
  corsConfiguration: {
    corsConfigurationEnabled: false,
    accessControlAllowOrigins: ['*'],
    accessControlAllowCredentials: false,
    accessControlAllowHeaders: [
      'authorization',
      'Access-Control-Allow-Origin',
      'Content-Type',
      'SOAPAction',
      'apikey',
    ],
    accessControlAllowMethods: ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
  },
  workflowStatus: null,
  endpointImplementationType: 'ENDPOINT',
  categories: [],
  keyManagers: ['all'],
  gatewayVendor: 'wso2',
  gatewayType: 'wso2/synapse',
  apiPolicies: { request: [], response: [], fault: [] },
} as const;

/** The publisher v4 APIDTO of a stored API. */
export function apiDto(api: ApiRecord) {
  const model = api.model;
  return {
    ...structuredClone(FIXED_API_FIELDS),
    id: api.id,
    name: api.name,
    description: model.description,
    context: displayContext(api.contextTemplate),
    version: api.version,
    provider: model.provider,
    lifeCycleStatus: api.lifecycle,
    tags: model.tags,
    policies: model.policies,
    apiThrottlingPolicy: model.apiThrottlingPolicy,
    authorizationHeader: model.authorizationHeader,
    createdTime: String(api.createdAt.getTime()),
    lastUpdatedTime: String(api.updatedAt.getTime()),
    endpointConfig: model.endpointConfig,
    scopes: model.scopes.map((scope) => ({
      scope: {
        id: null,
        name: scope.name,
        displayName: scope.name,
        description: scope.description,
        bindings: scope.bindings,
      },
      shared: false,
    })),
    operations: model.operations.map((operation) => ({
      id: '',
      target: operation.target,
      verb: operation.verb,
      authType: operation.authType,
      throttlingPolicy: operation.throttlingPolicy,
      scopes: operation.scopes,
      usedProductIds: [],
      amznResourceName: null,
      amznResourceTimeout: null,
      payloadSchema: null,
      uriMapping: null,
      operationPolicies: operation.operationPolicies,
    })),
  };
}

/** The publisher v4 APIInfoDTO (list entries). */
export function apiInfoDto(api: ApiRecord) {
  return {
    id: api.id,
    name: api.name,
    description: api.model.description,
    context: displayContext(api.contextTemplate),
    version: api.version,
    provider: api.model.provider,
    type: 'HTTP',
    lifeCycleStatus: api.lifecycle,
    workflowStatus: null,
    hasThumbnail: false,
    securityScheme: ['oauth2', 'oauth_basic_auth_api_key_mandatory'],
    createdTime: String(api.createdAt.getTime()),
    updatedTime: String(api.updatedAt.getTime()),
    gatewayVendor: 'wso2',
  };
}
