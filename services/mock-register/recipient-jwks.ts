import type { JWK } from 'jose';
import { z } from 'zod';
import type { PutOutcome } from '../../lib/cdr/register-client.ts';
import type { Database } from '../../lib/storage/index.ts';

/**
 * Public JWKS of test recipients, hosted by the sandbox Register so a smoke test can point its product's
 * `jwks_uri` here instead of serving its own keys. Only public keys: a JWKS carrying private members
 * would publish the recipient's signing key to anyone.
 */

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export const publicJwksSchema = z.strictObject({
  keys: z
    .array(
      z
        .looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().min(1).optional() })
        .superRefine((jwk, ctx) => {
          const found = PRIVATE_MEMBERS.filter((member) => member in jwk);
          if (found.length) {
            ctx.addIssue({
              code: 'custom',
              message: `private key members are not accepted in a public JWKS: ${found.join(', ')}`,
            });
          }
        }),
    )
    .max(20),
});

export class RecipientJwks {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(softwareProductId: string, jwks: z.output<typeof publicJwksSchema>): Promise<PutOutcome> {
    const result = await this.#db.query<{ inserted: boolean }>(
      `INSERT INTO recipient_jwks AS r (software_product_id, jwks) VALUES ($1, $2::jsonb)
       ON CONFLICT (software_product_id) DO UPDATE SET jwks = EXCLUDED.jwks, updated_at = now()
        WHERE r.jwks IS DISTINCT FROM EXCLUDED.jwks
       RETURNING (xmax = 0) AS inserted`,
      [softwareProductId, JSON.stringify(jwks)],
    );
    const row = result.rows[0];
    if (!row) return 'unchanged';
    return row.inserted ? 'created' : 'updated';
  }

  async get(softwareProductId: string): Promise<{ keys: JWK[] } | undefined> {
    const result = await this.#db.query<{ jwks: { keys: JWK[] } }>(
      'SELECT jwks FROM recipient_jwks WHERE software_product_id = $1',
      [softwareProductId],
    );
    return result.rows[0]?.jwks;
  }
}
