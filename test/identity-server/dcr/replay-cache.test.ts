import { expect, it } from 'vitest';
import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import { openDatabase } from '../../../lib/storage/index.ts';
import { pruneExpiredJtis, rememberJti } from '../../../services/identity-server/dcr/replay-cache.ts';
import { migrations } from '../../../services/identity-server/migrations.ts';

it('keeps a live jti as a replay, takes an expired one afresh, and prunes expired entries', async () => {
  const db = await openDatabase({ schema: 'identity_server', migrations });
  const now = Math.floor(Date.now() / 1000);
  await rememberJti(db, 'dcr-request', 'live', now + 300, 'replayed');
  await expect(rememberJti(db, 'dcr-request', 'live', now + 300, 'replayed')).rejects.toBeInstanceOf(
    InvalidClientMetadata,
  );
  await rememberJti(db, 'dcr-request', 'old', now - 10, 'replayed');
  await rememberJti(db, 'dcr-request', 'old', now + 300, 'replayed');
  await rememberJti(db, 'dcr-ssa', 'gone', now - 10, 'replayed');

  expect(await pruneExpiredJtis(db)).toBe(1);
  const left = await db.query<{ jti: string }>('SELECT jti FROM seen_jtis ORDER BY jti');
  expect(left.rows.map((row) => row.jti)).toEqual(['live', 'old']);
  await db.close();
});
