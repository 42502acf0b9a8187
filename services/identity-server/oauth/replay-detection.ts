import { hash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Database } from '../../../lib/storage/index.ts';

const MODEL = 'ReplayDetection';

/**
 * Client-assertion (and DPoP) `jti` replay detection in one atomic statement.
 *
 * oidc-provider's `ReplayDetection.unique` reads the entry and then writes it: two round trips, and two
 * concurrent requests with the same assertion can both read "not seen" before either writes. Here the
 * entry is inserted, or taken over when the earlier one has expired, and whether a row was written
 * decides: exactly one of any number of concurrent uses wins. The row is the one the provider's
 * adapter would have written (`oidc_payloads`, same id and expiry), so pruning is unchanged.
 */
export function detectReplaysAtomically(provider: Provider, db: Database): void {
  Object.defineProperty(provider.ReplayDetection, 'unique', {
    value: async (iss: string, jti: string, exp: number): Promise<boolean> => {
      const id = hash('sha256', `${iss}${jti}`, 'base64url');
      const result = await db.query(
        `INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES ($1, $2, $3::jsonb, to_timestamp($4))
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at
           WHERE oidc_payloads.expires_at IS NOT NULL AND oidc_payloads.expires_at <= now()`,
        [MODEL, id, JSON.stringify({ jti: id, iss, kind: MODEL }), exp],
      );
      return result.rowCount > 0;
    },
  });
}
