import { type Database, isUniqueViolation } from '../../../lib/storage/index.ts';

/** A scope as WSO2 IS's scope management API shows it. */
export interface Scope {
  name: string;
  displayName: string;
  description: string;
  bindings: string[];
}

interface ScopeRow {
  name: string;
  display_name: string;
  description: string;
  bindings: string[];
}

const CACHE_MS = 5_000;

/**
 * The scopes this server issues. Token requests consult the set on every client_credentials grant, so
 * names are cached briefly; a scope created through this process is visible at once (the identity
 * server and its DCR endpoint share one store), one created through another replica within `CACHE_MS`.
 */
export class ScopeStore {
  readonly #db: Database;
  readonly #onChange: (() => Promise<void> | void) | undefined;
  #names: { at: number; value: Set<string> } | undefined;

  /** `onChange` runs (awaited) after this store created a scope: the identity server rebuilds its provider. */
  constructor(db: Database, options: { onChange?: () => Promise<void> | void } = {}) {
    this.#db = db;
    this.#onChange = options.onChange;
  }

  async names(): Promise<Set<string>> {
    if (this.#names && Date.now() - this.#names.at < CACHE_MS) return this.#names.value;
    return this.reload();
  }

  /** The names as the database holds them now (scopes created through another replica included). */
  async reload(): Promise<Set<string>> {
    const { rows } = await this.#db.query<{ name: string }>('SELECT name FROM scopes');
    this.#names = { at: Date.now(), value: new Set(rows.map((row) => row.name)) };
    return this.#names.value;
  }

  async list(): Promise<Scope[]> {
    const { rows } = await this.#db.query<ScopeRow>(
      'SELECT name, display_name, description, bindings FROM scopes ORDER BY name',
    );
    return rows.map(toScope);
  }

  async get(name: string): Promise<Scope | undefined> {
    const { rows } = await this.#db.query<ScopeRow>(
      'SELECT name, display_name, description, bindings FROM scopes WHERE name = $1',
      [name],
    );
    return rows[0] ? toScope(rows[0]) : undefined;
  }

  /** Creates a scope; false when one of that name exists already. */
  async create(scope: Scope): Promise<boolean> {
    try {
      await this.#db.query(
        'INSERT INTO scopes (name, display_name, description, bindings) VALUES ($1, $2, $3, $4::jsonb)',
        [scope.name, scope.displayName, scope.description, JSON.stringify(scope.bindings)],
      );
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
    this.#names = undefined;
    await this.#onChange?.();
    return true;
  }
}

function toScope(row: ScopeRow): Scope {
  return {
    name: row.name,
    displayName: row.display_name,
    description: row.description,
    bindings: row.bindings,
  };
}
