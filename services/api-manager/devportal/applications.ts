import { randomUUID } from 'node:crypto';
import type { Database } from '../../../lib/storage/index.ts';
import { isUniqueViolation } from '../../../lib/storage/index.ts';
import { conflict, notFound } from '../request.ts';

export interface ApplicationRow {
  id: string;
  name: string;
  owner: string;
  throttling_policy: string;
  dto: { description: string; tokenType: string; attributes: Record<string, string> };
}

export interface NewApplication {
  name: string;
  owner: string;
  throttlingPolicy: string;
  description: string;
  tokenType: string;
  attributes: Record<string, string>;
}

/** Devportal applications, each visible to its owner only. */
export class ApplicationStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The caller's application, or 404 (another owner's application is not revealed). */
  async get(id: string, owner: string): Promise<ApplicationRow> {
    const row = await this.#db.query<ApplicationRow>(
      'SELECT * FROM applications WHERE id = $1 AND owner = $2',
      [id, owner],
    );
    if (!row.rows[0]) throw notFound('application', id);
    return row.rows[0];
  }

  async list(owner: string): Promise<ApplicationRow[]> {
    const rows = await this.#db.query<ApplicationRow>(
      'SELECT * FROM applications WHERE owner = $1 ORDER BY created_at',
      [owner],
    );
    return rows.rows;
  }

  /** A new application (409 when the owner already has one of that name). */
  async create(input: NewApplication): Promise<ApplicationRow> {
    const id = randomUUID();
    try {
      await this.#db.query(
        'INSERT INTO applications (id, name, owner, throttling_policy, dto) VALUES ($1, $2, $3, $4, $5::jsonb)',
        [
          id,
          input.name,
          input.owner,
          input.throttlingPolicy,
          JSON.stringify({
            description: input.description,
            tokenType: input.tokenType,
            attributes: input.attributes,
          }),
        ],
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict(`an application named ${input.name} already exists`);
      throw error;
    }
    return this.get(id, input.owner);
  }

  async remove(id: string): Promise<void> {
    await this.#db.query('DELETE FROM applications WHERE id = $1', [id]);
  }

  /** WSO2's ApplicationDTO. */
  async dto(row: ApplicationRow) {
    const subscriptions = await this.#db.query<{ count: number }>(
      'SELECT count(*)::integer AS count FROM subscriptions WHERE application_id = $1',
      [row.id],
    );
    return {
      applicationId: row.id,
      name: row.name,
      throttlingPolicy: row.throttling_policy,
      description: row.dto.description,
      tokenType: row.dto.tokenType,
      status: 'APPROVED',
      groups: [],
      subscriptionCount: subscriptions.rows[0]?.count ?? 0,
      keys: [],
      attributes: row.dto.attributes,
      subscriptionScopes: [],
      owner: row.owner,
      hashEnabled: false,
    };
  }
}
