import { randomUUID } from 'node:crypto';
import type { Database } from '../../../lib/storage/index.ts';

/** A CDR arrangement: what a customer agreed to share with a recipient, for how long. */
export interface Arrangement {
  arrangementId: string;
  clientId: string;
  customerId: string;
  grantId: string;
  accountIds: string[];
  scope: string;
  /** Seconds; 0 is a one-off consent (no refresh token). */
  sharingDuration: number;
  status: 'active' | 'revoked';
  /** Epoch seconds; undefined for a one-off consent. */
  expiresAt: number | undefined;
}

export interface ConsentDecision {
  clientId: string;
  customerId: string;
  grantId: string;
  accountIds: string[];
  scope: string;
  sharingDuration: number;
  /** The arrangement this consent amends (`cdr_arrangement_id` in the request). */
  amends?: string | undefined;
}

interface ArrangementRow {
  arrangement_id: string;
  client_id: string;
  customer_id: string;
  grant_id: string;
  account_ids: string[];
  scope: string;
  sharing_duration: number;
  status: 'active' | 'revoked';
  expires_at: number | null;
}

const COLUMNS = `arrangement_id, client_id, customer_id, grant_id, account_ids, scope, sharing_duration, status,
  extract(epoch FROM expires_at)::integer AS expires_at`;

/** The `cdr_arrangements` table: one row per arrangement, shared by every replica. */
export class ArrangementStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Records an approved consent: a new arrangement, or — when it amends one of the same client and
   * customer — the same arrangement with the new grant, accounts, scope and duration. Returns the
   * arrangement and the grant it replaced (whose tokens must end).
   */
  async record(decision: ConsentDecision): Promise<{ arrangement: Arrangement; replacedGrantId?: string }> {
    const expiresAt = decision.sharingDuration > 0 ? decision.sharingDuration : null;
    if (decision.amends) {
      return this.#db.transaction(async (tx) => {
        const { rows: previous } = await tx.query<{ grant_id: string }>(
          `SELECT grant_id FROM cdr_arrangements WHERE arrangement_id = $1 AND client_id = $2
             AND customer_id = $3 AND status = 'active' FOR UPDATE`,
          [decision.amends, decision.clientId, decision.customerId],
        );
        if (!previous[0]) throw new ArrangementNotFound(decision.amends!);
        const { rows } = await tx.query<ArrangementRow>(
          `UPDATE cdr_arrangements SET grant_id = $2, account_ids = $3::jsonb, scope = $4,
             sharing_duration = $5, updated_at = now(),
             expires_at = CASE WHEN $6::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $6::integer) END
           WHERE arrangement_id = $1 RETURNING ${COLUMNS}`,
          [
            decision.amends,
            decision.grantId,
            JSON.stringify(decision.accountIds),
            decision.scope,
            decision.sharingDuration,
            expiresAt,
          ],
        );
        return { arrangement: toArrangement(rows[0]!), replacedGrantId: previous[0].grant_id };
      });
    }
    const { rows } = await this.#db.query<ArrangementRow>(
      `INSERT INTO cdr_arrangements (arrangement_id, client_id, customer_id, grant_id, account_ids, scope,
         sharing_duration, status, expires_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, 'active',
         CASE WHEN $8::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $8::integer) END)
       RETURNING ${COLUMNS}`,
      [
        randomUUID(),
        decision.clientId,
        decision.customerId,
        decision.grantId,
        JSON.stringify(decision.accountIds),
        decision.scope,
        decision.sharingDuration,
        expiresAt,
      ],
    );
    return { arrangement: toArrangement(rows[0]!) };
  }

  async find(arrangementId: string): Promise<Arrangement | undefined> {
    const { rows } = await this.#db.query<ArrangementRow>(
      `SELECT ${COLUMNS} FROM cdr_arrangements WHERE arrangement_id = $1`,
      [arrangementId],
    );
    return rows[0] && toArrangement(rows[0]);
  }

  /** A customer's active arrangements, newest first (the sandbox dashboard). */
  async activeOf(customerId: string): Promise<Arrangement[]> {
    const { rows } = await this.#db.query<ArrangementRow>(
      `SELECT ${COLUMNS} FROM cdr_arrangements WHERE customer_id = $1 AND status = 'active'
        ORDER BY updated_at DESC`,
      [customerId],
    );
    return rows.map(toArrangement);
  }

  async findByGrant(grantId: string): Promise<Arrangement | undefined> {
    const { rows } = await this.#db.query<ArrangementRow>(
      `SELECT ${COLUMNS} FROM cdr_arrangements WHERE grant_id = $1`,
      [grantId],
    );
    return rows[0] && toArrangement(rows[0]);
  }
}

export class ArrangementNotFound extends Error {
  constructor(arrangementId: string) {
    super(`no active arrangement ${arrangementId} of this client and customer`);
    this.name = 'ArrangementNotFound';
  }
}

function toArrangement(row: ArrangementRow): Arrangement {
  return {
    arrangementId: row.arrangement_id,
    clientId: row.client_id,
    customerId: row.customer_id,
    grantId: row.grant_id,
    accountIds: row.account_ids,
    scope: row.scope,
    sharingDuration: row.sharing_duration,
    status: row.status,
    expiresAt: row.expires_at ?? undefined,
  };
}
