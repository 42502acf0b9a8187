import { z } from 'zod';
import { badRequest, parseBody } from '../request.ts';
import {
  type ApiModel,
  apiThrottlingSchema,
  endpointConfigSchema,
  FLOWS,
  type Flow,
  type PolicyRef,
  policiesSchema,
  type StoredOperation,
} from './api-model.ts';
import { checkOperationTier, normaliseAuthType } from './definition.ts';
import { appliesTo, type OperationPolicy } from './operation-policies.ts';

/** The fields of WSO2's APIDTO that api-manager reads on import (`additionalProperties`) and on PUT. */

const VERBS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

const policyRefSchema = z.looseObject({
  policyName: z.string().optional(),
  policyId: z.string().optional(),
  policyVersion: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
});

const operationInputSchema = z.looseObject({
  target: z.string().regex(/^\//, 'must start with /'),
  verb: z
    .string()
    .transform((verb) => verb.toUpperCase())
    .pipe(z.enum(VERBS)),
  authType: z.string().optional(),
  throttlingPolicy: z.string().nullish(),
  scopes: z.array(z.string()).optional(),
  operationPolicies: z
    .looseObject({
      request: z.array(policyRefSchema).nullish(),
      response: z.array(policyRefSchema).nullish(),
      fault: z.array(policyRefSchema).nullish(),
    })
    .nullish(),
});

const scopeInputSchema = z.looseObject({
  scope: z.looseObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    bindings: z.array(z.string()).nullish(),
  }),
});

const emptyPolicies = z
  .looseObject({
    request: z.array(z.unknown()).max(0, 'API-level policies are not supported').nullish(),
    response: z.array(z.unknown()).max(0, 'API-level policies are not supported').nullish(),
    fault: z.array(z.unknown()).max(0, 'API-level policies are not supported').nullish(),
  })
  .nullish();

const commonFields = {
  description: z.string().nullish(),
  provider: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  type: z.literal('HTTP', { error: 'only HTTP APIs are supported' }).optional(),
  policies: policiesSchema.nullish(),
  apiThrottlingPolicy: apiThrottlingSchema.optional(),
  authorizationHeader: z.string().min(1).nullish(),
  endpointConfig: endpointConfigSchema.nullish(),
  apiPolicies: emptyPolicies,
};

export const importPropertiesSchema = z.looseObject({
  name: z.string().min(1).max(60),
  version: z.string().min(1).max(30).optional(),
  context: z.string().min(1).optional(),
  ...commonFields,
});
export type ImportProperties = z.infer<typeof importPropertiesSchema>;

export const apiUpdateSchema = z.looseObject({
  name: z.string().optional(),
  version: z.string().optional(),
  context: z.string().optional(),
  ...commonFields,
  scopes: z.array(scopeInputSchema).nullish(),
  operations: z.array(operationInputSchema).nullish(),
});

/**
 * Applies a PUT body to a stored model: business plans, endpoints, scopes and operations with their
 * attached policies (each must be one of the API's uploaded policies, applicable to its flow).
 */
export function applyUpdate(model: ApiModel, body: unknown, policies: OperationPolicy[]): ApiModel {
  const input = parseBody(apiUpdateSchema, body);
  const scopes = input.scopes
    ? input.scopes.map(({ scope }) => ({
        name: scope.name,
        description: scope.description ?? '',
        bindings: scope.bindings ?? [],
      }))
    : model.scopes;
  const known = new Set(scopes.map((scope) => scope.name));
  const operations = input.operations
    ? input.operations.map((operation, index): StoredOperation => {
        const field = `operations[${index}]`;
        const operationScopes = operation.scopes ?? [];
        for (const scope of operationScopes) {
          if (!known.has(scope))
            throw badRequest(`invalid field ${field}.scopes: scope ${scope} is not defined on the API`);
        }
        return {
          target: operation.target,
          verb: operation.verb,
          authType: normaliseAuthType(operation.authType, `${field}.authType`),
          throttlingPolicy: checkOperationTier(
            operation.throttlingPolicy ?? 'Unlimited',
            `${field}.throttlingPolicy`,
          ),
          scopes: operationScopes,
          operationPolicies: resolvePolicies(
            operation.operationPolicies ?? {},
            policies,
            `${field}.operationPolicies`,
          ),
        };
      })
    : model.operations;
  const duplicate = operations.find(
    (operation, index) =>
      operations.findIndex((other) => other.target === operation.target && other.verb === operation.verb) !==
      index,
  );
  if (duplicate)
    throw badRequest(`invalid field operations: ${duplicate.verb} ${duplicate.target} appears twice`);
  return {
    ...model,
    description: input.description ?? model.description,
    tags: input.tags ?? model.tags,
    policies: input.policies ?? model.policies,
    apiThrottlingPolicy:
      input.apiThrottlingPolicy === undefined ? model.apiThrottlingPolicy : input.apiThrottlingPolicy,
    authorizationHeader: input.authorizationHeader ?? model.authorizationHeader,
    endpointConfig:
      input.endpointConfig === undefined
        ? model.endpointConfig
        : (input.endpointConfig as ApiModel['endpointConfig']),
    scopes,
    operations,
  };
}

function resolvePolicies(
  input: Partial<Record<Flow, z.infer<typeof policyRefSchema>[] | null | undefined>>,
  policies: OperationPolicy[],
  field: string,
): Record<Flow, PolicyRef[]> {
  const resolved: Record<Flow, PolicyRef[]> = { request: [], response: [], fault: [] };
  for (const flow of FLOWS) {
    (input[flow] ?? []).forEach((ref, index) => {
      const at = `${field}.${flow}[${index}]`;
      const policy = ref.policyId
        ? policies.find((candidate) => candidate.id === ref.policyId)
        : policies.find(
            (candidate) =>
              candidate.spec.name === ref.policyName &&
              candidate.spec.version === (ref.policyVersion ?? candidate.spec.version),
          );
      if (!policy) {
        throw badRequest(
          `invalid field ${at}.policyId: no operation policy ${ref.policyId ?? ref.policyName ?? '(unnamed)'} on this API`,
        );
      }
      if (!appliesTo(policy, flow)) {
        throw badRequest(
          `invalid field ${at}: policy ${policy.spec.name} does not apply to the ${flow} flow`,
        );
      }
      if (Object.keys(ref.parameters ?? {}).length > 0) {
        throw badRequest(`invalid field ${at}.parameters: policy ${policy.spec.name} takes no parameters`);
      }
      resolved[flow].push({
        policyName: policy.spec.name,
        policyId: policy.id,
        policyVersion: policy.spec.version,
        parameters: {},
      });
    });
  }
  return resolved;
}
