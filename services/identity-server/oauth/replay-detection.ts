import { hash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Database } from '../../../lib/storage/index.ts';

/** Purpose of these entries in `seen_jtis`, beside the DCR request and SSA jtis (dcr/replay-cache.ts). */
const PURPOSE = 'client-assertion';

/**
 * Client-assertion (and DPoP) `jti` replay detection in one atomic statement.
 *
 * oidc-provider's `ReplayDetection.unique` reads the entry and then writes it: two round trips, and two
 * concurrent requests with the same assertion can both read "not seen" before either writes. Here the
 * entry is inserted, or taken over when the earlier one has expired, and whether a row was written
 * decides: exactly one of any number of concurrent uses wins. Entries live in the replay cache table
 * (`seen_jtis`, keyed as the provider keys them: a hash of issuer and jti) until the assertion expires,
 * and are pruned with the DCR jtis.
 */
export function detectReplaysAtomically(provider: Provider, db: Database): void {
  Object.defineProperty(provider.ReplayDetection, 'unique', {
    value: async (iss: string, jti: string, exp: number): Promise<boolean> => {
      const id = hash('sha256', `${iss}${jti}`, 'base64url');
      const result = await db.query(
        `INSERT INTO seen_jtis (purpose, jti, expires_at) VALUES ($1, $2, to_timestamp($3))
         ON CONFLICT (purpose, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
           WHERE seen_jtis.expires_at <= now()`,
        [PURPOSE, id, exp],
      );
      return result.rowCount > 0;
    },
  });
}
