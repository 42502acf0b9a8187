import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TooManyRequests } from '../../lib/http/errors.ts';
import { AdminLockout } from '../../lib/limits/admin-lockout.ts';
import { RequestLimits, sourceAddressOf } from '../../lib/limits/request-limits.ts';
import { WINDOW_COUNTERS_MIGRATION, WindowCounters } from '../../lib/limits/window-counters.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { postgresTarget } from '../support/database.ts';

/**
 * The abuse-limit counters (lib/limits): fixed windows in one table, counted by an atomic upsert, so two
 * replicas on one schema count together. Clocks are passed in (`now`), so windows end without waiting.
 */

const migrations = [{ version: 1, ...WINDOW_COUNTERS_MIGRATION }];
const postgres = await postgresTarget();
if (!postgres) console.log('PostgreSQL limit tests skipped: set OBKIT_TEST_DATABASE_URL');
const T0 = 1_800_000_000_000;

async function refusal(pending: Promise<unknown>): Promise<TooManyRequests> {
  const error = await pending.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TooManyRequests);
  return error as TooManyRequests;
}

describe('on PGlite', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ schema: 'limits_test', migrations });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('admits a quota, refuses the next request with the seconds left, and admits again after the window', async () => {
    const limits = new RequestLimits(db);
    const check = [{ limit: 'token:client', subject: 'a', quota: { count: 2, windowMs: 60_000 } }];
    await limits.admit(check, T0);
    await limits.admit(check, T0 + 1000);
    const refused = await refusal(limits.admit(check, T0 + 15_000));
    expect(refused.retryAfterSeconds).toBe(45);
    // Another caller has windows of its own.
    await limits.admit([{ ...check[0]!, subject: 'b' }], T0 + 15_000);
    // The window opened at T0 ends at T0 + 60 s.
    await limits.admit(check, T0 + 60_000);
  });

  it('refuses when any of the limits a request counts against is exceeded', async () => {
    const limits = new RequestLimits(db);
    const checks = (client: string) => [
      { limit: 'dcr:client', subject: client, quota: { count: 10, windowMs: 60_000 } },
      { limit: 'dcr:source', subject: '192.0.2.1', quota: { count: 3, windowMs: 60_000 } },
    ];
    await limits.admit(checks('c1'), T0);
    await limits.admit(checks('c2'), T0);
    await limits.admit(checks('c3'), T0);
    await refusal(limits.admit(checks('c4'), T0));
    // A limit of 0 requests is off; a caller without a key is not counted against it.
    await limits.admit(
      [
        { limit: 'dcr:client', subject: 'c5', quota: { count: 0, windowMs: 60_000 } },
        { limit: 'dcr:source', subject: undefined, quota: { count: 1, windowMs: 60_000 } },
      ],
      T0,
    );
  });

  it('counts concurrent requests in arrival order, admitting exactly the quota, in fewer statements than requests', async () => {
    let statements = 0;
    const counted: typeof db = {
      ...db,
      query: (sql, params) => {
        statements++;
        return db.query(sql, params);
      },
    };
    const limits = new RequestLimits(counted);
    const check = (client: string) => [
      { limit: 'token:client', subject: client, quota: { count: 5, windowMs: 60_000 } },
      { limit: 'token:source', subject: '203.0.113.9', quota: { count: 8, windowMs: 60_000 } },
    ];
    // Client "early" sends 7, then "late" sends 3, from one source: early's first 5 pass its own limit
    // (5); late's arrive 8th to 10th at the source (limit 8), so only late's first passes.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 7 }, () => limits.admit(check('early'), T0)),
      ...Array.from({ length: 3 }, () => limits.admit(check('late'), T0)),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      ...Array<string>(5).fill('fulfilled'),
      'rejected',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(TooManyRequests);
    }
    expect(statements).toBeLessThan(outcomes.length);
    const counters = new WindowCounters(db);
    expect(await counters.read('token:client:early', T0)).toMatchObject({ count: 7 });
    expect(await counters.read('token:source:203.0.113.9', T0)).toMatchObject({ count: 10 });
  });

  it('counts hits for one key reported twice in one call once each', async () => {
    const counters = new WindowCounters(db);
    const counted = await counters.add(
      [
        { key: 'plan:x', hits: 2, windowMs: 60_000 },
        { key: 'plan:x', hits: 3, windowMs: 60_000 },
      ],
      T0,
    );
    expect(counted.get('plan:x')).toEqual({ key: 'plan:x', count: 5, expiresAt: T0 + 60_000 });
  });

  it('locks the admin account after repeated bad passwords, refuses even the right one, logs once', async () => {
    const logger = { warn: vi.fn() };
    const policy = { maxFailures: 3, windowMs: 60_000, lockoutMs: 120_000 };
    const lockout = new AdminLockout(db, policy, 'admin', logger);
    const wrong = () => false;
    const right = () => true;
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await lockout.check('admin', wrong, T0 + attempt * 1000)).toBe(false);
    }
    const locked = await refusal(lockout.check('admin', right, T0 + 10_000));
    // Locked for the full lockout from the failure that locked it (T0 + 2 s + 120 s).
    expect(locked.retryAfterSeconds).toBe(112);
    await refusal(lockout.check('admin', wrong, T0 + 100_000));
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]![1]).toBe('admin account locked after repeated bad passwords');
    expect(logger.warn.mock.calls[0]![0]).toMatchObject({ account: 'admin', failures: 3 });
    // Over: the right password is accepted again.
    expect(await lockout.check('admin', right, T0 + 122_000)).toBe(true);
  });

  it('counts guessed user names against one key that never locks the real account', async () => {
    const lockout = new AdminLockout(
      db,
      { maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000 },
      'operator',
      { warn: vi.fn() },
    );
    for (const name of ['root', 'guest', 'test']) await lockout.check(name, () => false, T0).catch(() => {});
    await refusal(lockout.check('someone', () => true, T0));
    expect(await lockout.check('operator', () => true, T0)).toBe(true);
    const rows = await db.query<{ key: string }>(
      "SELECT key FROM abuse_counters WHERE key LIKE 'admin-lockout:%' ORDER BY key",
    );
    expect(rows.rows.map((row) => row.key)).toEqual(['admin-lockout:*', 'admin-lockout:admin']);
  });

  it('counts a source by its address, IPv6 by its /64, and believes X-Forwarded-For only from the gateway', () => {
    const from = (remoteAddress: string, forwarded?: string) => ({
      socket: { remoteAddress },
      headers: forwarded ? { 'x-forwarded-for': forwarded } : {},
    });
    expect(sourceAddressOf(from('192.0.2.7'), false)).toBe('192.0.2.7');
    expect(sourceAddressOf(from('::ffff:192.0.2.7'), false)).toBe('192.0.2.7');
    expect(sourceAddressOf(from('2001:db8:1:2:a::1'), false)).toBe('2001:db8:1:2::/64');
    expect(sourceAddressOf(from('2001:db8:1:2:ffff::9'), false)).toBe('2001:db8:1:2::/64');
    expect(sourceAddressOf(from('192.0.2.7', '10.0.0.1'), false)).toBe('192.0.2.7');
    expect(sourceAddressOf(from('10.1.1.1', '203.0.113.5, 198.51.100.20'), true)).toBe('198.51.100.20');
  });

  it('keeps a service account (the DCR backend credential) apart from the admin and from guessed names', async () => {
    const policy = { maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000 };
    const admin = new AdminLockout(db, policy, 'ops-admin', { warn: vi.fn() });
    const service = new AdminLockout(db, policy, 'obkit-gateway-dcr', { warn: vi.fn() });
    for (const name of ['x', 'y', 'ops-admin', 'ops-admin'])
      await admin.check(name, () => false, T0).catch(() => {});
    await refusal(admin.check('ops-admin', () => true, T0));
    expect(await service.check('obkit-gateway-dcr', () => true, T0)).toBe(true);
  });

  it('prunes ended windows', async () => {
    const counters = new WindowCounters(db);
    await counters.add([{ key: 'short', hits: 1, windowMs: 1000 }], T0);
    await counters.prune(T0 + 1000);
    expect(await counters.read('short', T0)).toBeUndefined();
  });
});

describe.skipIf(!postgres)('two replicas on one PostgreSQL schema', () => {
  const schema = `limits_${randomBytes(4).toString('hex')}`;
  let replicas: Database[];
  beforeAll(async () => {
    replicas = [
      await openDatabase({ url: postgres!.url, schema, migrations }),
      await openDatabase({ url: postgres!.url, schema, migrations }),
    ];
  });
  afterAll(async () => {
    for (const db of replicas ?? []) await db.close();
    await postgres?.dropSchema(schema);
  });

  it('counts concurrent hits through both exactly, and admits the quota once between them', async () => {
    const limits = replicas.map((db) => new RequestLimits(db));
    const check = [
      { limit: 'token:source', subject: '198.51.100.7', quota: { count: 10, windowMs: 60_000 } },
    ];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, index) => limits[index % 2]!.admit(check, T0)),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(10);
    expect(
      outcomes.every(
        (outcome) => outcome.status === 'fulfilled' || outcome.reason instanceof TooManyRequests,
      ),
    ).toBe(true);
    expect(await new WindowCounters(replicas[1]!).read('token:source:198.51.100.7', T0)).toMatchObject({
      count: 30,
    });
  });

  it('holds a lockout made through one replica on the other, logged once', async () => {
    const warn = vi.fn();
    const policy = { maxFailures: 4, windowMs: 60_000, lockoutMs: 60_000 };
    const [a, b] = replicas.map((db) => new AdminLockout(db, policy, 'admin', { warn }));
    await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        (index % 2 ? a! : b!).check('admin', () => false, T0).catch(() => false),
      ),
    );
    await refusal(b!.check('admin', () => true, T0 + 1000));
    await refusal(a!.check('admin', () => true, T0 + 1000));
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
