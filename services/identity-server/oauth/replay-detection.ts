import { hash } from 'node:crypto';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Database } from '../../../lib/storage/index.ts';
import type { ClientCache } from './client-cache.ts';

/** Purpose of these entries in `seen_jtis`, beside the DCR request and SSA jtis (dcr/replay-cache.ts). */
const PURPOSE = 'client-assertion';

/**
 * Client-assertion (and DPoP) `jti` replay detection in one atomic statement, which also answers
 * whether the client is still registered.
 *
 * oidc-provider's `ReplayDetection.unique` reads the entry and then writes it: two round trips, and two
 * concurrent requests with the same assertion can both read "not seen" before either writes. Here the
 * entry is inserted, or taken over when the earlier one has expired, and whether a row was written
 * decides: exactly one of any number of concurrent uses wins. Entries live in the replay cache table
 * (`seen_jtis`, keyed as the provider keys them: a hash of issuer and jti) until the assertion expires,
 * and are pruned with the DCR jtis.
 *
 * The provider calls this once the assertion's signature has verified, with `iss` equal to the client
 * id; nothing is recorded for a client that is no longer registered, and it is refused as
 * `invalid_client` however recently its metadata was loaded (client-cache.ts).
 */
export function detectReplaysAtomically(
  provider: Provider,
  db: Database,
  clients: ClientCache<unknown>,
): void {
  Object.defineProperty(provider.ReplayDetection, 'unique', {
    value: async (iss: string, jti: string, exp: number): Promise<boolean> => {
      const id = hash('sha256', `${iss}${jti}`, 'base64url');
      const { rows } = await db.query<{ registered: boolean; fresh: boolean }>(
        `WITH client AS (SELECT 1 FROM clients WHERE client_id = $4),
         recorded AS (
           INSERT INTO seen_jtis (purpose, jti, expires_at)
           SELECT $1, $2, to_timestamp($3) WHERE EXISTS (SELECT 1 FROM client)
           ON CONFLICT (purpose, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
             WHERE seen_jtis.expires_at <= now()
           RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM client) AS registered, EXISTS (SELECT 1 FROM recorded) AS fresh`,
        [PURPOSE, id, exp, iss],
      );
      if (!rows[0]?.registered) {
        clients.evict(iss);
        throw new errors.InvalidClientAuth('the client is no longer registered');
      }
      return rows[0].fresh;
    },
  });
}
