import { ChangeNotifier } from '../../../lib/gateway-feed/change-notifier.ts';
import type { Revocation, RevocationPage } from '../../../lib/gateway-feed/revocations.ts';
import type { Database, Queryable } from '../../../lib/storage/index.ts';
import { ACCESS_TOKEN_TTL } from '../oauth/provider.ts';

/** Rows per feed answer; a gateway catching up asks again at once (`complete: false`). */
const PAGE_SIZE = 1000;
/** A client revocation outlives every token issued before it (clock skew between replicas included). */
const CLIENT_REVOCATION_SECONDS = ACCESS_TOKEN_TTL + 300;

/**
 * The revocations this identity server's access tokens are subject to, in the `revocations` table shared
 * by every replica: read by its own token checks and served to the gateways (feed-routes.ts).
 *
 * Writers take the table lock for the rest of their transaction, so ids are assigned in commit order and
 * a reader that has seen id N has seen every row below N: a feed cursor never skips a revocation.
 */
export class RevocationStore {
  readonly #db: Database;
  /** Wakes feed long polls held by this replica; other replicas' rows are found by their re-check. */
  readonly changes = new ChangeNotifier();

  constructor(db: Database) {
    this.#db = db;
  }

  /** Refuses one access token (by `jti`) until it would have expired anyway. */
  revokeToken(jti: string, expiresAt: number): Promise<void> {
    return this.transaction((_tx, record) => record([{ claim: 'jti', value: jti, expiresAt }]));
  }

  /**
   * Runs `work` in one transaction in which `record` adds revocations, so they commit (or not) with what
   * caused them, e.g. a client's deletion. Feed long polls held by this replica are woken after commit.
   */
  async transaction<T>(
    work: (tx: Queryable, record: (revocations: Revocation[]) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    let recorded = false;
    const result = await this.#db.transaction((tx) =>
      work(tx, async (revocations) => {
        await insert(tx, revocations);
        recorded ||= revocations.length > 0;
      }),
    );
    if (recorded) this.changes.changed();
    return result;
  }

  /** True when a revocation in force names the token's `jti`, its client or its CDR arrangement. */
  async isRevoked(claims: {
    jti: string;
    client_id: string;
    cdr_arrangement_id?: unknown;
  }): Promise<boolean> {
    const { rows } = await this.#db.query(
      `SELECT 1 FROM revocations
       WHERE ((claim = 'jti' AND value = $1) OR (claim = 'client_id' AND value = $2)
              OR (claim = 'cdr_arrangement_id' AND value = $3)) AND expires_at > now()
       LIMIT 1`,
      [
        claims.jti,
        claims.client_id,
        typeof claims.cdr_arrangement_id === 'string' ? claims.cdr_arrangement_id : '',
      ],
    );
    return rows.length > 0;
  }

  /** Revocations in force recorded after `after` (all of them from 0), oldest first, one page. */
  async page(after: number): Promise<RevocationPage> {
    const { rows } = await this.#db.query<{ id: number; claim: string; value: string; expires_at: number }>(
      `SELECT id, claim, value, extract(epoch FROM expires_at)::integer AS expires_at FROM revocations
       WHERE id > $1 AND expires_at > now() ORDER BY id LIMIT $2`,
      [after, PAGE_SIZE + 1],
    );
    const page = rows.slice(0, PAGE_SIZE);
    return {
      cursor: page.at(-1)?.id ?? after,
      complete: rows.length <= PAGE_SIZE,
      revocations: page.map((row) => ({ claim: row.claim, value: row.value, expiresAt: row.expires_at })),
    };
  }

  /** Removes revocations no token can be subject to any more. */
  async prune(): Promise<void> {
    await this.#db.query('DELETE FROM revocations WHERE expires_at < now()');
  }
}

/** Every token of a client issued before now: it was deleted or deactivated. */
export function clientRevocation(clientId: string): Revocation {
  return {
    claim: 'client_id',
    value: clientId,
    expiresAt: Math.floor(Date.now() / 1000) + CLIENT_REVOCATION_SECONDS,
  };
}

async function insert(tx: Queryable, revocations: Revocation[]): Promise<void> {
  await tx.query('LOCK TABLE revocations IN EXCLUSIVE MODE');
  for (const { claim, value, expiresAt } of revocations) {
    // A later expiry replaces the row (new id), so gateways that already hold it learn the new expiry.
    await tx.query(
      'DELETE FROM revocations WHERE claim = $1 AND value = $2 AND expires_at < to_timestamp($3)',
      [claim, value, expiresAt],
    );
    await tx.query(
      `INSERT INTO revocations (claim, value, expires_at) VALUES ($1, $2, to_timestamp($3))
       ON CONFLICT (claim, value) DO NOTHING`,
      [claim, value, expiresAt],
    );
  }
}
