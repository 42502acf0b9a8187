import { PUBLISHER_API } from '../../../lib/wso2/management-api.ts';
import type { RequestOptions } from './http.ts';
import type { List, ManagementSession } from './management-session.ts';

// The WSO2 Publisher v4 REST API.

export interface ApiOperation {
  id?: string;
  target: string;
  verb: string;
  authType?: string;
  throttlingPolicy?: string;
  scopes?: string[];
  operationPolicies?: {
    request?: OperationPolicyRef[];
    response?: OperationPolicyRef[];
    fault?: OperationPolicyRef[];
  };
  [field: string]: unknown;
}

export interface OperationPolicyRef {
  policyName: string;
  policyId?: string;
  policyVersion: string;
  parameters: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ApiDto {
  id: string;
  name: string;
  version: string;
  context: string;
  lifeCycleStatus?: string;
  policies?: string[];
  apiThrottlingPolicy?: string;
  endpointConfig?: Record<string, unknown>;
  operations?: ApiOperation[];
  [field: string]: unknown;
}

export interface RevisionDto {
  id: string;
  displayName?: string;
  description?: string;
  createdTime?: string | number;
  deploymentInfo?: { name: string; vhost?: string; status?: string; displayOnDevportal?: boolean }[];
  [field: string]: unknown;
}

export interface OperationPolicyDto {
  id: string;
  name: string;
  version?: string;
  [field: string]: unknown;
}

export class PublisherApi {
  readonly #session: ManagementSession;
  static readonly base = PUBLISHER_API;

  constructor(session: ManagementSession) {
    this.#session = session;
  }

  #call<T>(method: string, path: string, options?: RequestOptions) {
    return this.#session.call<T>(method, `${PublisherApi.base}${path}`, options);
  }

  async findApi(name: string, version: string): Promise<ApiDto | undefined> {
    const found = await this.#call<List<ApiDto>>('GET', '/apis', { params: { query: `name:"${name}"` } });
    const summary = found.data.list.find((api) => api.name === name && api.version === version);
    return summary ? this.getApi(summary.id) : undefined;
  }

  async getApi(id: string): Promise<ApiDto> {
    return (await this.#call<ApiDto>('GET', `/apis/${encodeURIComponent(id)}`)).data;
  }

  async importOpenApi(
    definition: { fileName: string; content: string },
    properties: Record<string, unknown>,
  ) {
    const form = new FormData();
    form.append('file', new Blob([definition.content], { type: 'application/yaml' }), definition.fileName);
    form.append('additionalProperties', JSON.stringify(properties));
    return (await this.#call<ApiDto>('POST', '/apis/import-openapi', { data: form, expect: [200, 201] }))
      .data;
  }

  async updateApi(api: ApiDto): Promise<ApiDto> {
    return (await this.#call<ApiDto>('PUT', `/apis/${encodeURIComponent(api.id)}`, { data: api })).data;
  }

  async listOperationPolicies(apiId: string): Promise<OperationPolicyDto[]> {
    const found = await this.#call<List<OperationPolicyDto>>(
      'GET',
      `/apis/${encodeURIComponent(apiId)}/operation-policies`,
      { params: { limit: 100 } },
    );
    return found.data.list;
  }

  async addOperationPolicy(apiId: string, spec: Record<string, unknown>, synapseXml: string) {
    const form = new FormData();
    form.append(
      'policySpecFile',
      new Blob([JSON.stringify(spec)], { type: 'application/json' }),
      'policy.json',
    );
    form.append(
      'synapsePolicyDefinitionFile',
      new Blob([synapseXml], { type: 'application/xml' }),
      'policy.j2',
    );
    const created = await this.#call<OperationPolicyDto>(
      'POST',
      `/apis/${encodeURIComponent(apiId)}/operation-policies`,
      {
        data: form,
        expect: [200, 201],
      },
    );
    return created.data;
  }

  async listRevisions(apiId: string, deployedOnly = false): Promise<RevisionDto[]> {
    const found = await this.#call<List<RevisionDto>>('GET', `/apis/${encodeURIComponent(apiId)}/revisions`, {
      ...(deployedOnly ? { params: { query: 'deployed:true' } } : {}),
    });
    return found.data.list;
  }

  async createRevision(apiId: string, description: string): Promise<RevisionDto> {
    const created = await this.#call<RevisionDto>('POST', `/apis/${encodeURIComponent(apiId)}/revisions`, {
      data: { description },
      expect: [200, 201],
    });
    return created.data;
  }

  async deleteRevision(apiId: string, revisionId: string): Promise<void> {
    await this.#call(
      'DELETE',
      `/apis/${encodeURIComponent(apiId)}/revisions/${encodeURIComponent(revisionId)}`,
    );
  }

  async deployRevision(apiId: string, revisionId: string, gateway: string, vhost: string): Promise<void> {
    await this.#call('POST', `/apis/${encodeURIComponent(apiId)}/deploy-revision`, {
      params: { revisionId },
      data: [{ revisionUuid: revisionId, name: gateway, vhost, displayOnDevportal: true }],
      expect: [200, 201],
    });
  }

  async changeLifecycle(apiId: string, action: 'Publish' | 'Deprecate' | 'Retire'): Promise<void> {
    await this.#call('POST', '/apis/change-lifecycle', { params: { apiId, action } });
  }
}
