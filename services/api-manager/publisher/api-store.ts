import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Queryable } from '../../../lib/storage/index.ts';
import { conflict, notFound } from '../request.ts';
import type { ApiModel, ApiRecord } from './api-model.ts';

interface ApiRow {
  id: string;
  name: string;
  version: string;
  context_template: string;
  lifecycle: string;
  dto: ApiModel;
  created_at: Date | string;
  updated_at: Date | string;
}

function toRecord(row: ApiRow): ApiRecord {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    contextTemplate: row.context_template,
    lifecycle: row.lifecycle,
    model: row.dto,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export class ApiStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async create(input: {
    name: string;
    version: string;
    contextTemplate: string;
    model: ApiModel;
    definition: string;
  }): Promise<ApiRecord> {
    const id = randomUUID();
    try {
      await this.#db.query(
        `INSERT INTO apis (id, name, version, context_template, lifecycle, dto, definition)
         VALUES ($1, $2, $3, $4, 'CREATED', $5::jsonb, $6)`,
        [id, input.name, input.version, input.contextTemplate, JSON.stringify(input.model), input.definition],
      );
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw conflict(
          `an API named ${input.name} with version ${input.version}, or with the same context and version, already exists`,
        );
      }
      throw error;
    }
    return this.get(id);
  }

  async find(id: string): Promise<ApiRecord | undefined> {
    const row = await this.#db.query<ApiRow>('SELECT * FROM apis WHERE id = $1', [id]);
    return row.rows[0] ? toRecord(row.rows[0]) : undefined;
  }

  async get(id: string): Promise<ApiRecord> {
    const api = await this.find(id);
    if (!api) throw notFound('API', id);
    return api;
  }

  async list(): Promise<ApiRecord[]> {
    const rows = await this.#db.query<ApiRow>('SELECT * FROM apis ORDER BY created_at, id');
    return rows.rows.map(toRecord);
  }

  async definition(id: string): Promise<string> {
    const row = await this.#db.query<{ definition: string }>('SELECT definition FROM apis WHERE id = $1', [
      id,
    ]);
    if (!row.rows[0]) throw notFound('API', id);
    return row.rows[0].definition;
  }

  async updateModel(id: string, model: ApiModel): Promise<ApiRecord> {
    await this.#db.query('UPDATE apis SET dto = $2::jsonb, updated_at = now() WHERE id = $1', [
      id,
      JSON.stringify(model),
    ]);
    return this.get(id);
  }

  async setLifecycle(id: string, lifecycle: string): Promise<void> {
    await this.#db.query('UPDATE apis SET lifecycle = $2, updated_at = now() WHERE id = $1', [id, lifecycle]);
  }

  async remove(id: string): Promise<void> {
    const subscriptions = await this.#db.query<{ count: number }>(
      'SELECT count(*)::integer AS count FROM subscriptions WHERE api_id = $1',
      [id],
    );
    if ((subscriptions.rows[0]?.count ?? 0) > 0) {
      throw conflict(`cannot remove the API ${id}: active subscriptions exist`);
    }
    await this.#db.query('DELETE FROM apis WHERE id = $1', [id]);
  }
}
