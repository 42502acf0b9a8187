import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ArrangementStore } from '../arrangements/store.ts';

/**
 * CDS: the token response of an authorisation-code or refresh grant names the arrangement its tokens
 * belong to (`cdr_arrangement_id`), which the recipient uses to amend or revoke it.
 */
export function arrangementInTokenResponse(arrangements: ArrangementStore) {
  return async function addArrangementId(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    await next();
    const oidc = ctx.oidc as KoaContextWithOIDC['oidc'] | undefined;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (oidc?.route !== 'token' || ctx.status !== 200 || !body?.access_token) return;
    const grantId = oidc.entities.Grant?.jti;
    if (!grantId) return;
    const arrangement = await arrangements.findByGrant(grantId);
    if (arrangement) body.cdr_arrangement_id = arrangement.arrangementId;
  };
}
