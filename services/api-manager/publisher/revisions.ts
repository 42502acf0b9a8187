import { randomUUID } from 'node:crypto';
import type { MediationStep } from '../../../lib/gateway-feed/snapshot.ts';
import type { Database, Queryable } from '../../../lib/storage/index.ts';
import type { GatewayEnvironment } from '../admin/environments.ts';
import { badRequest, notFound } from '../request.ts';
import type { ApiModel, ApiRecord } from './api-model.ts';
import type { OperationPolicy } from './operation-policies.ts';

/** WSO2's limit of revisions kept per API; scripts rotate the oldest undeployed one. */
export const MAX_REVISIONS_PER_API = 5;

/** Policies as frozen in a revision: what the gateway runs for that revision. */
export type FrozenPolicies = Record<string, { name: string; version: string; steps: MediationStep[] }>;

export interface Revision {
  id: string;
  apiId: string;
  number: number;
  description: string;
  model: ApiModel;
  policies: FrozenPolicies;
  createdAt: Date;
}

export interface Deployment {
  apiId: string;
  revisionId: string;
  environment: string;
  vhost: string;
  displayOnDevportal: boolean;
  deployedAt: Date;
}

interface RevisionRow {
  id: string;
  api_id: string;
  number: number;
  description: string;
  api_dto: ApiModel;
  policies: FrozenPolicies;
  created_at: Date | string;
}

interface DeploymentRow {
  api_id: string;
  revision_id: string;
  environment: string;
  vhost: string;
  display_on_devportal: boolean;
  deployed_at: Date | string;
}

const toRevision = (row: RevisionRow): Revision => ({
  id: row.id,
  apiId: row.api_id,
  number: row.number,
  description: row.description,
  model: row.api_dto,
  policies: row.policies,
  createdAt: new Date(row.created_at),
});

const toDeployment = (row: DeploymentRow): Deployment => ({
  apiId: row.api_id,
  revisionId: row.revision_id,
  environment: row.environment,
  vhost: row.vhost,
  displayOnDevportal: row.display_on_devportal,
  deployedAt: new Date(row.deployed_at),
});

export interface DeploymentRequest {
  revisionUuid?: string | undefined;
  name: string;
  vhost?: string | undefined;
  displayOnDevportal?: boolean | undefined;
}

export class RevisionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Freezes the API and the steps of every policy it references as the next revision. */
  async create(api: ApiRecord, description: string, policies: OperationPolicy[]): Promise<Revision> {
    const frozen: FrozenPolicies = {};
    for (const policy of policies) {
      frozen[policy.id] = { name: policy.spec.name, version: policy.spec.version, steps: policy.steps };
    }
    const id = randomUUID();
    await this.#db.transaction(async (tx) => {
      // Serialise revision creation per API so the limit and the numbering hold under concurrency.
      const counter = await tx.query<{ revision_counter: number }>(
        'SELECT revision_counter FROM apis WHERE id = $1 FOR UPDATE',
        [api.id],
      );
      if (!counter.rows[0]) throw notFound('API', api.id);
      const existing = await tx.query<{ count: number }>(
        'SELECT count(*)::integer AS count FROM revisions WHERE api_id = $1',
        [api.id],
      );
      if ((existing.rows[0]?.count ?? 0) >= MAX_REVISIONS_PER_API) {
        throw badRequest(
          `Maximum number of revisions per API has reached: an API keeps at most ${MAX_REVISIONS_PER_API} revisions; ` +
            `delete an undeployed revision of API ${api.id} to create a new one`,
        );
      }
      const number = counter.rows[0].revision_counter + 1;
      await tx.query('UPDATE apis SET revision_counter = $2 WHERE id = $1', [api.id, number]);
      await tx.query(
        `INSERT INTO revisions (id, api_id, number, description, api_dto, policies)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)`,
        [id, api.id, number, description, JSON.stringify(api.model), JSON.stringify(frozen)],
      );
    });
    return this.get(api.id, id);
  }

  async get(apiId: string, id: string): Promise<Revision> {
    const row = await this.#db.query<RevisionRow>('SELECT * FROM revisions WHERE api_id = $1 AND id = $2', [
      apiId,
      id,
    ]);
    if (!row.rows[0]) throw notFound('revision', id);
    return toRevision(row.rows[0]);
  }

  async list(apiId: string): Promise<Revision[]> {
    const rows = await this.#db.query<RevisionRow>(
      'SELECT * FROM revisions WHERE api_id = $1 ORDER BY number',
      [apiId],
    );
    return rows.rows.map(toRevision);
  }

  async deployments(apiId: string): Promise<Deployment[]> {
    const rows = await this.#db.query<DeploymentRow>(
      'SELECT * FROM deployments WHERE api_id = $1 ORDER BY environment',
      [apiId],
    );
    return rows.rows.map(toDeployment);
  }

  async allDeployments(db: Queryable = this.#db): Promise<Deployment[]> {
    const rows = await db.query<DeploymentRow>('SELECT * FROM deployments ORDER BY api_id, environment');
    return rows.rows.map(toDeployment);
  }

  async remove(apiId: string, id: string): Promise<void> {
    await this.get(apiId, id);
    const deployed = await this.#db.query('SELECT 1 FROM deployments WHERE revision_id = $1', [id]);
    if (deployed.rows.length > 0) {
      throw badRequest(`revision ${id} is deployed: undeploy it before deleting it`);
    }
    await this.#db.query('DELETE FROM revisions WHERE id = $1', [id]);
  }

  /**
   * Deploys a revision to gateway environments (replacing whatever revision of the API each held), after
   * checking every environment exists and every vhost is one of that environment's.
   */
  async deploy(
    apiId: string,
    revisionId: string,
    requests: DeploymentRequest[],
    environments: GatewayEnvironment[],
  ): Promise<Deployment[]> {
    await this.get(apiId, revisionId);
    const resolved = requests.map((request, index) => {
      if (request.revisionUuid && request.revisionUuid !== revisionId) {
        throw badRequest(`invalid field [${index}].revisionUuid: must equal the revisionId query parameter`);
      }
      const environment = environments.find((candidate) => candidate.name === request.name);
      if (!environment) {
        throw badRequest(
          `invalid field [${index}].name: gateway environment ${request.name} does not exist ` +
            `(known: ${environments.map((candidate) => candidate.name).join(', ')})`,
        );
      }
      const vhost = request.vhost ?? environment.vhosts[0]!;
      if (!environment.vhosts.includes(vhost)) {
        throw badRequest(
          `invalid field [${index}].vhost: ${vhost} is not a vhost of gateway environment ${environment.name} ` +
            `(known: ${environment.vhosts.join(', ')})`,
        );
      }
      return { environment: environment.name, vhost, displayOnDevportal: request.displayOnDevportal ?? true };
    });
    await this.#db.transaction(async (tx) => {
      for (const deployment of resolved) {
        await tx.query(
          `INSERT INTO deployments (api_id, environment, revision_id, vhost, display_on_devportal)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (api_id, environment) DO UPDATE
             SET revision_id = EXCLUDED.revision_id, vhost = EXCLUDED.vhost,
                 display_on_devportal = EXCLUDED.display_on_devportal, deployed_at = now()`,
          [apiId, deployment.environment, revisionId, deployment.vhost, deployment.displayOnDevportal],
        );
      }
    });
    return (await this.deployments(apiId)).filter((deployment) => deployment.revisionId === revisionId);
  }

  /** Undeploys a revision from the named environments (or all of them). */
  async undeploy(apiId: string, revisionId: string, environments: string[] | 'all'): Promise<void> {
    await this.get(apiId, revisionId);
    if (environments === 'all') {
      await this.#db.query('DELETE FROM deployments WHERE api_id = $1 AND revision_id = $2', [
        apiId,
        revisionId,
      ]);
      return;
    }
    for (const environment of environments) {
      await this.#db.query(
        'DELETE FROM deployments WHERE api_id = $1 AND revision_id = $2 AND environment = $3',
        [apiId, revisionId, environment],
      );
    }
  }
}

/** The publisher v4 APIRevisionDTO. */
export function revisionDto(revision: Revision, deployments: Deployment[]) {
  return {
    id: revision.id,
    displayName: `Revision ${revision.number}`,
    description: revision.description,
    createdTime: String(revision.createdAt.getTime()),
    apiInfo: { id: revision.apiId },
    deploymentInfo: deployments
      .filter((deployment) => deployment.revisionId === revision.id)
      .map(deploymentDto),
  };
}

/** The publisher v4 APIRevisionDeploymentDTO. */
export function deploymentDto(deployment: Deployment) {
  return {
    revisionUuid: deployment.revisionId,
    name: deployment.environment,
    vhost: deployment.vhost,
    displayOnDevportal: deployment.displayOnDevportal,
    deployedTime: String(deployment.deployedAt.getTime()),
    successDeployedTime: String(deployment.deployedAt.getTime()),
    status: 'APPROVED',
  };
}
