import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { assertStorable, DatabaseUnavailable, isConnectionFailure } from './errors.ts';
import { preparedStatements } from './pglite-statements.ts';
import { openPgliteCluster } from './pglite-template.ts';

export { DatabaseUnavailable, UnstorableText } from './errors.ts';

/**
 * One storage module, one SQL dialect (PostgreSQL). A real server when a URL is given (`pg`), otherwise
 * PGlite — PostgreSQL compiled to WASM — in a data directory of the service's own. Each service owns a
 * schema (`search_path`) and its versioned migrations; no service reads another's tables.
 *
 * Conventions that keep both drivers returning the same values: pass JSON as `JSON.stringify(v)` with a
 * `::jsonb` cast, use `integer`/`text`/`timestamptz`/`jsonb` columns, and never rely on `int8` decoding.
 */

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  readonly schema: string;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Cheap round trip for readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection URL; when empty, PGlite in `dataDir` (or in memory without one). */
  url?: string | undefined;
  dataDir?: string | undefined;
  /** The owning service's schema, e.g. `identity_server`. */
  schema: string;
  migrations: readonly Migration[];
  /** pg pool size (ignored by PGlite, which has one connection). */
  poolSize?: number;
  /**
   * How long to keep trying a server that is not accepting connections yet (one starting beside the
   * service, as `obkit up`'s embedded database or a database pod does). Default 30 s.
   */
  connectTimeoutMs?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (!SCHEMA_NAME.test(options.schema)) throw new Error(`invalid schema name: ${options.schema}`);
  assertMigrationsOrdered(options.migrations);
  const db = options.url
    ? openPostgres(options.url, options.schema, options.poolSize ?? 10)
    : await openPglite(options.dataDir, options.schema);
  try {
    await untilReachable(() => migrate(db, options.migrations), options.connectTimeoutMs ?? 30_000);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/** True for a unique-constraint violation (SQLSTATE 23505), from either driver. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

async function openPglite(dataDir: string | undefined, schema: string): Promise<Database> {
  const lite = dataDir ? await openPgliteCluster(dataDir) : await PGlite.create();
  await lite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema};`);
  const statements = preparedStatements(lite);
  const run = async <R>(inTransaction: boolean, sql: string, params?: unknown[]) => {
    assertStorable(params);
    const result = await statements.query<R>(sql, params ?? [], inTransaction);
    // Like pg: a statement that returns rows counts them; otherwise the rows it changed.
    return {
      rows: result.rows,
      rowCount: result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0),
    };
  };
  return {
    kind: 'pglite',
    schema,
    query: (sql, params) => run(false, sql, params),
    exec: async (sql) => {
      await lite.exec(sql);
    },
    transaction: (fn) =>
      lite.transaction((tx) =>
        fn({
          query: (sql, params) => run(true, sql, params),
          exec: async (sql) => {
            await tx.exec(sql);
          },
        }),
      ),
    ping: async () => {
      await lite.query('SELECT 1');
    },
    close: () => lite.close(),
  };
}

/** How long a statement waits for a connection before the caller is told the database is unavailable. */
const CONNECT_TIMEOUT_MS = 5000;

function openPostgres(url: string, schema: string, max: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
  });
  // An idle client losing its server must not crash the process; the pool drops it and the next
  // statement opens a new connection, so a restarted server is picked up without a restart of ours.
  pool.on('error', () => {});
  const run = async <R>(q: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) => {
    assertStorable(params);
    const result = await unavailableAsTyped(q.query(sql, params));
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  };
  return {
    kind: 'postgres',
    schema,
    query: (sql, params) => run(pool, sql, params),
    // Without parameters pg uses the simple query protocol, which accepts several statements.
    exec: async (sql) => {
      await unavailableAsTyped(pool.query(sql));
    },
    transaction: async (fn) => {
      const client = await unavailableAsTyped(pool.connect());
      // A checked-out client has no pool listener: without one, losing the server would crash the process.
      let broken = false;
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await unavailableAsTyped(client.query('BEGIN'));
        const value = await fn({
          query: (sql, params) => run(client, sql, params),
          exec: async (sql) => {
            await unavailableAsTyped(client.query(sql));
          },
        });
        await unavailableAsTyped(client.query('COMMIT'));
        return value;
      } catch (error) {
        if (error instanceof DatabaseUnavailable) broken = true;
        else await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.off('error', onError);
        // A connection that failed mid-transaction is closed, not handed to the next caller.
        client.release(broken);
      }
    },
    ping: async () => {
      await unavailableAsTyped(pool.query('SELECT 1'));
    },
    close: () => pool.end(),
  };
}

/** Errors that mean the server is not (yet) accepting connections, as opposed to a failed statement. */
const NOT_ACCEPTING = new Set(['ENOENT', 'ECONNREFUSED', '57P03']);

async function untilReachable(attempt: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const cause = error instanceof DatabaseUnavailable ? error.cause : error;
      const code = (cause as { code?: string } | undefined)?.code;
      if (!code || !NOT_ACCEPTING.has(code) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Connection failures become `DatabaseUnavailable` (503 + Retry-After); statement errors pass unchanged. */
async function unavailableAsTyped<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    throw isConnectionFailure(error) ? new DatabaseUnavailable(error) : error;
  }
}

async function migrate(db: Database, migrations: readonly Migration[]): Promise<void> {
  await db.transaction(async (tx) => {
    // Replicas starting together: one applies the migrations, the others wait and find them done.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`obkit-migrate:${db.schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${db.schema}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const applied = await tx.query<{ version: number; name: string }>(
      `SELECT version, name FROM ${db.schema}.schema_migrations`,
    );
    const done = new Map(applied.rows.map((row) => [row.version, row.name]));
    for (const migration of migrations) {
      const appliedName = done.get(migration.version);
      if (appliedName !== undefined) {
        // An applied migration was edited or replaced: the schema no longer matches the code.
        if (appliedName !== migration.name) {
          throw new Error(
            `migration ${migration.version} was applied as "${appliedName}" but the code now names it "${migration.name}"`,
          );
        }
        continue;
      }
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw new Error(
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
        );
      }
      await tx.query(`INSERT INTO ${db.schema}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
  });
}

function assertMigrationsOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `migrations must be numbered 1, 2, 3…; found ${migration.version} at position ${index + 1}`,
      );
    }
  });
}
