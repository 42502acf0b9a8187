import { ACCESS_TOKEN_TTL } from '../oauth/provider.ts';
import type { RevocationStore } from '../revocation/store.ts';

/** Whose active arrangement may be revoked: the recipient's (its client) or the customer's. */
export type RevocationParty = { clientId: string } | { customerId: string };

/**
 * Ends an active arrangement in one transaction: marked revoked, its grant and the tokens issued from
 * it deleted, and its id recorded in the revocation feed so every access token carrying it is refused
 * here and at every gateway. Returns the arrangement's client, or undefined when the party has no such
 * active arrangement.
 */
export function revokeArrangement(
  revocations: RevocationStore,
  arrangementId: string,
  party: RevocationParty,
): Promise<{ clientId: string } | undefined> {
  const [column, value] =
    'clientId' in party ? ['client_id', party.clientId] : ['customer_id', party.customerId];
  return revocations.transaction(async (tx, record) => {
    const { rows } = await tx.query<{ grant_id: string; client_id: string }>(
      `UPDATE cdr_arrangements SET status = 'revoked', updated_at = now()
        WHERE arrangement_id = $1 AND ${column} = $2 AND status = 'active' RETURNING grant_id, client_id`,
      [arrangementId, value],
    );
    if (!rows[0]) return undefined;
    await tx.query('DELETE FROM oidc_payloads WHERE grant_id = $1 OR (model = $2 AND id = $1)', [
      rows[0].grant_id,
      'Grant',
    ]);
    await record([
      {
        claim: 'cdr_arrangement_id',
        value: arrangementId,
        expiresAt: Math.floor(Date.now() / 1000) + ACCESS_TOKEN_TTL + 300,
      },
    ]);
    return { clientId: rows[0].client_id };
  });
}
