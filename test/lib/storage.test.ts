import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Database,
  DatabaseUnavailable,
  isUniqueViolation,
  type Migration,
  openDatabase,
  UnstorableText,
} from '../../lib/storage/index.ts';
import { servePglite } from '../../lib/storage/pglite-server.ts';
import { prepareDataDir } from '../../lib/storage/pglite-template.ts';
import { postgresTarget } from '../support/database.ts';

const migrations: Migration[] = [
  { version: 1, name: 'items', sql: 'CREATE TABLE items (id text PRIMARY KEY, doc jsonb NOT NULL)' },
  {
    version: 2,
    name: 'counter and audit',
    sql: `ALTER TABLE items ADD COLUMN n integer NOT NULL DEFAULT 0;
          CREATE TABLE audit (at timestamptz NOT NULL DEFAULT now());`,
  },
];

interface Target {
  name: string;
  open(extra?: Migration[]): Promise<Database>;
  cleanup(): Promise<void>;
}

async function pgliteTarget(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-storage-'));
  return {
    name: 'PGlite',
    open: (extra = []) =>
      openDatabase({ dataDir: dir, schema: 'storage_test', migrations: [...migrations, ...extra] }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** One PGlite served on a Unix socket, reached through the `pg` path as `obkit up`'s services reach it. */
async function pgliteSocketTarget(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-storage-socket-'));
  await prepareDataDir(join(dir, 'data'));
  const lite = await PGlite.create({ dataDir: join(dir, 'data') });
  const server = await servePglite(lite, { socketPath: join(dir, '.s.PGSQL.5432') });
  const url = `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`;
  return {
    name: 'PGlite over a Unix socket',
    open: (extra = []) =>
      openDatabase({ url, schema: 'storage_test', migrations: [...migrations, ...extra] }),
    cleanup: async () => {
      await server.close();
      await lite.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const postgres = await postgresTarget();
const targets: Array<() => Promise<Target>> = [pgliteTarget, pgliteSocketTarget];
if (!postgres)
  console.log('storage: PostgreSQL suite skipped: set OBKIT_TEST_DATABASE_URL to a reachable server');
if (postgres) {
  targets.push(async () => {
    const schema = `storage_test_${randomBytes(4).toString('hex')}`;
    return {
      name: 'PostgreSQL',
      open: (extra = []) =>
        openDatabase({ url: postgres.url, schema, migrations: [...migrations, ...extra] }),
      cleanup: () => postgres.dropSchema(schema),
    };
  });
}

const targetNames = ['PGlite', 'PGlite over a Unix socket', 'PostgreSQL'];
describe.each(targets.map((make, index) => [targetNames[index], make] as const))(
  'storage on %s',
  (_name, make) => {
    let target: Target;
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const cleanup of cleanups) await cleanup();
    });

    it('applies versioned migrations once and survives a reopen', async () => {
      target = await make();
      cleanups.push(() => target.cleanup());
      const db = await target.open();
      await db.query('INSERT INTO items (id, doc, n) VALUES ($1, $2::jsonb, $3)', [
        'a',
        JSON.stringify({ x: 1 }),
        2,
      ]);
      await db.close();
      const again = await target.open([
        { version: 3, name: 'index', sql: 'CREATE INDEX items_n ON items (n)' },
      ]);
      const versions = await again.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(versions.rows.map((row) => row.version)).toEqual([1, 2, 3]);
      expect((await again.query('SELECT id, doc, n FROM items')).rows).toEqual([
        { id: 'a', doc: { x: 1 }, n: 2 },
      ]);
      await again.close();
    });

    it('rolls a failed transaction back entirely and reports unique violations', async () => {
      const db = await target.open();
      const failure = await db
        .transaction(async (tx) => {
          await tx.query("INSERT INTO items (id, doc) VALUES ('b', '{}')");
          await tx.query("INSERT INTO items (id, doc) VALUES ('a', '{}')");
        })
        .catch((error: unknown) => error);
      expect(isUniqueViolation(failure)).toBe(true);
      expect((await db.query("SELECT 1 FROM items WHERE id = 'b'")).rowCount).toBe(0);
      await db.close();
    });

    it('refuses text with a NUL character before sending it, in text and JSON alike', async () => {
      const db = await target.open();
      for (const [id, doc] of [
        ['nul\u0000id', '{}'],
        ['escaped', JSON.stringify({ name: 'a\u0000b' })],
      ]) {
        await expect(
          db.query('INSERT INTO items (id, doc) VALUES ($1, $2::jsonb)', [id, doc]),
        ).rejects.toThrow(UnstorableText);
      }
      // An escaped backslash before u0000 is text, not a NUL.
      await db.query('INSERT INTO items (id, doc) VALUES ($1, $2::jsonb)', [
        'literal',
        JSON.stringify({ name: '\\u0000' }),
      ]);
      expect((await db.query("SELECT 1 FROM items WHERE id IN ('nul', 'escaped', 'literal')")).rowCount).toBe(
        1,
      );
      await db.close();
    });

    it('fails loudly on a broken migration and names it', async () => {
      const index = { version: 3, name: 'index', sql: 'CREATE INDEX items_n ON items (n)' };
      await expect(
        target.open([index, { version: 4, name: 'broken', sql: 'CREATE TABLE (' }]),
      ).rejects.toThrow(/migration 4 \(broken\) failed/);
    });

    it('refuses to run when an applied migration was replaced', async () => {
      await expect(target.open([{ version: 3, name: 'other', sql: 'SELECT 1' }])).rejects.toThrow(
        /applied as "index" but the code now names it "other"/,
      );
    });

    it('refuses migrations out of order', async () => {
      await expect(target.open([{ version: 5, name: 'gap', sql: 'SELECT 1' }])).rejects.toThrow(/numbered/);
    });
  },
);

describe('an unreachable PostgreSQL server', () => {
  it('is reported as DatabaseUnavailable (rendered 503 + Retry-After), not as a statement error', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once (and not waited for).
    const opening = openDatabase({
      url: 'postgres://obkit@127.0.0.1:1/none',
      schema: 'nowhere',
      migrations,
      connectTimeoutMs: 0,
    });
    await expect(opening).rejects.toThrow(DatabaseUnavailable);
  });
});
