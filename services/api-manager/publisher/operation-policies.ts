import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { MediationStep } from '../../../lib/gateway-feed/snapshot.ts';
import { parseSynapseSequence, SequenceError } from '../../../lib/gateway-feed/synapse.ts';
import { isUniqueViolation, type Queryable } from '../../../lib/storage/index.ts';
import { badRequest, conflict, notFound, parseBody } from '../request.ts';
import type { Flow } from './api-model.ts';

/**
 * API-specific operation policies: a WSO2 policy specification plus its Synapse definition, parsed at
 * upload into the steps the gateway runs (anything it cannot run is a 400 here, naming it).
 */

export const policySpecSchema = z.looseObject({
  category: z.string().default('Mediation'),
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  displayName: z.string().optional(),
  description: z.string().optional(),
  version: z.string().min(1).default('1.0'),
  applicableFlows: z.array(z.enum(['request', 'response', 'fault'])).min(1),
  supportedApiTypes: z.array(z.string()).default(['HTTP']),
  supportedGateways: z.array(z.string()).default(['Synapse']),
  policyAttributes: z
    .array(z.unknown())
    .max(0, 'policy attributes (templated parameters) are not supported')
    .default([]),
});
export type PolicySpec = z.infer<typeof policySpecSchema>;

export interface OperationPolicy {
  id: string;
  apiId: string;
  spec: PolicySpec;
  steps: MediationStep[];
}

interface PolicyRow {
  id: string;
  api_id: string;
  spec: PolicySpec;
  steps: MediationStep[];
}

const toPolicy = (row: PolicyRow): OperationPolicy => ({
  id: row.id,
  apiId: row.api_id,
  spec: row.spec,
  steps: row.steps,
});

export class OperationPolicyStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async upload(
    apiId: string,
    specText: string | undefined,
    definition: string | undefined,
  ): Promise<OperationPolicy> {
    if (!specText) throw badRequest('invalid field policySpecFile: required');
    if (!definition) throw badRequest('invalid field synapsePolicyDefinitionFile: required');
    let specJson: unknown;
    try {
      specJson = JSON.parse(specText);
    } catch {
      throw badRequest('invalid field policySpecFile: not JSON');
    }
    const spec = parseBody(policySpecSchema, specJson, 'policySpecFile');
    if (!spec.supportedGateways.includes('Synapse')) {
      throw badRequest('invalid field policySpecFile.supportedGateways: must include Synapse');
    }
    let steps: MediationStep[];
    try {
      steps = parseSynapseSequence(definition);
    } catch (error) {
      if (error instanceof SequenceError)
        throw badRequest(`invalid synapsePolicyDefinitionFile: ${error.message}`);
      throw error;
    }
    const id = randomUUID();
    try {
      await this.#db.query(
        `INSERT INTO operation_policies (id, api_id, name, version, spec, definition, steps)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb)`,
        [id, apiId, spec.name, spec.version, JSON.stringify(spec), definition, JSON.stringify(steps)],
      );
    } catch (error) {
      if (isUniqueViolation(error))
        throw conflict(`the API already has policy ${spec.name} version ${spec.version}`);
      throw error;
    }
    return { id, apiId, spec, steps };
  }

  async list(apiId: string): Promise<OperationPolicy[]> {
    const rows = await this.#db.query<PolicyRow>(
      'SELECT id, api_id, spec, steps FROM operation_policies WHERE api_id = $1 ORDER BY name, version',
      [apiId],
    );
    return rows.rows.map(toPolicy);
  }

  async get(apiId: string, id: string): Promise<OperationPolicy> {
    const row = await this.#db.query<PolicyRow>(
      'SELECT id, api_id, spec, steps FROM operation_policies WHERE api_id = $1 AND id = $2',
      [apiId, id],
    );
    if (!row.rows[0]) throw notFound('operation policy', id);
    return toPolicy(row.rows[0]);
  }

  async definition(apiId: string, id: string): Promise<string> {
    const row = await this.#db.query<{ definition: string }>(
      'SELECT definition FROM operation_policies WHERE api_id = $1 AND id = $2',
      [apiId, id],
    );
    if (!row.rows[0]) throw notFound('operation policy', id);
    return row.rows[0].definition;
  }

  async remove(apiId: string, id: string): Promise<void> {
    await this.get(apiId, id);
    await this.#db.query('DELETE FROM operation_policies WHERE api_id = $1 AND id = $2', [apiId, id]);
  }
}

/** Whether a flow may run the policy (its spec's `applicableFlows`). */
export function appliesTo(policy: OperationPolicy, flow: Flow): boolean {
  return policy.spec.applicableFlows.includes(flow);
}

/** The publisher v4 OperationPolicyDataDTO. */
export function operationPolicyDto(policy: OperationPolicy) {
  const spec = policy.spec;
  return {
    id: policy.id,
    category: spec.category,
    name: spec.name,
    version: spec.version,
    displayName: spec.displayName ?? spec.name,
    description: spec.description ?? '',
    applicableFlows: spec.applicableFlows,
    supportedGateways: spec.supportedGateways,
    supportedApiTypes: spec.supportedApiTypes,
    isAPISpecific: true,
    md5: null,
    policyAttributes: spec.policyAttributes,
  };
}
