import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgliteServer, servePglite } from '../../lib/storage/pglite-server.ts';
import { prepareDataDir } from '../../lib/storage/pglite-template.ts';

/**
 * One PGlite shared over a Unix socket by several `pg` clients, as `obkit up`'s services share it:
 * each connection keeps its own schema, cycles and transactions of different clients never mix, and a
 * client that leaves or stalls inside a transaction cannot hold the others.
 */

let dir: string;
let db: PGlite;
let server: PgliteServer;
const pools: pg.Pool[] = [];

function poolFor(schema: string, max = 4): pg.Pool {
  const pool = new pg.Pool({
    host: dir,
    user: 'postgres',
    database: 'postgres',
    max,
    options: `-c search_path=${schema}`,
  });
  pool.on('error', () => {});
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-pglite-server-'));
  await prepareDataDir(join(dir, 'data'));
  db = await PGlite.create({ dataDir: join(dir, 'data') });
  await db.exec(`CREATE SCHEMA one; CREATE SCHEMA two;
    CREATE TABLE one.t (v text); CREATE TABLE two.t (v text);
    INSERT INTO one.t VALUES ('one'); INSERT INTO two.t VALUES ('two');`);
  server = await servePglite(db, { socketPath: join(dir, '.s.PGSQL.5432'), idleInTransactionMs: 500 });
}, 120_000);

afterAll(async () => {
  for (const pool of pools) await pool.end();
  await server?.close();
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('PGlite over a Unix socket', () => {
  it('is owner-only', async () => {
    expect((await stat(join(dir, '.s.PGSQL.5432'))).mode & 0o777).toBe(0o600);
  });

  it('keeps each connection in its own schema under concurrent parameterised queries', async () => {
    const one = poolFor('one');
    const two = poolFor('two');
    const seen = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? two : one).query<{ v: string; i: number }>('SELECT v, $1::int AS i FROM t', [i]),
      ),
    );
    seen.forEach((result, i) => {
      expect(result.rows).toEqual([{ v: i % 2 ? 'two' : 'one', i }]);
    });
  });

  it('runs concurrent transactions of different clients one after the other', async () => {
    const one = poolFor('one');
    const two = poolFor('two');
    const transfer = async (pool: pg.Pool, value: string, fail: boolean) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO t VALUES ($1)', [value]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await client.query(fail ? 'SELECT 1/0' : 'SELECT 1');
        await client.query('COMMIT');
      } catch {
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    };
    await Promise.all([
      transfer(one, 'kept-1', false),
      transfer(two, 'dropped-2', true),
      transfer(one, 'dropped-1', true),
      transfer(two, 'kept-2', false),
    ]);
    expect((await one.query('SELECT v FROM t ORDER BY v')).rows.map((r) => r.v)).toEqual(['kept-1', 'one']);
    expect((await two.query('SELECT v FROM t ORDER BY v')).rows.map((r) => r.v)).toEqual(['kept-2', 'two']);
  });

  it('rolls back the transaction of a client that disconnects inside it', async () => {
    const leaving = new pg.Client({ host: dir, user: 'postgres', options: '-c search_path=one' });
    leaving.on('error', () => {});
    await leaving.connect();
    await leaving.query('BEGIN');
    await leaving.query("INSERT INTO t VALUES ('left-behind')");
    (leaving as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const one = poolFor('one');
    expect((await one.query("SELECT count(*)::int AS n FROM t WHERE v = 'left-behind'")).rows[0].n).toBe(0);
  });

  it('disconnects a client idle inside a transaction, so the others go on', async () => {
    const stalled = new pg.Client({ host: dir, user: 'postgres', options: '-c search_path=two' });
    const ended = new Promise((resolve) => stalled.on('error', resolve));
    await stalled.connect();
    await stalled.query('BEGIN');
    await stalled.query("INSERT INTO t VALUES ('stalled')");
    const two = poolFor('two');
    const started = Date.now();
    expect((await two.query("SELECT count(*)::int AS n FROM t WHERE v = 'stalled'")).rows[0].n).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await ended;
  });
});
