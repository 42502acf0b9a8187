import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../../../lib/storage/index.ts';
import { answerAuthorizationError } from './authorization-errors.ts';

const PAR_URN = 'urn:ietf:params:oauth:request_uri:';
/** Longer than any request_uri lives (60 s at most) and any interaction started from one. */
const REDEMPTION_RECORD_SECONDS = 3600;

/**
 * A `request_uri` opens the authorisation endpoint once (RFC 9126 §4, FAPI 1.0 §5.2.2-13).
 * oidc-provider consumes a pushed request only when the authorisation completes, so a second visit
 * before that would start a second interaction; this records the first visit atomically — on every
 * replica — and refuses any later one. The record lives in `oidc_payloads` and is pruned with it.
 */
export function redeemRequestUriOnce(db: Database, authorizationPath: string) {
  const path = authorizationPath.toLowerCase();
  return async function redeemRequestUri(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    const requestUri = ctx.query.request_uri;
    if (ctx.path.toLowerCase() === path && typeof requestUri === 'string' && requestUri.startsWith(PAR_URN)) {
      const { rows } = await db.query(
        `INSERT INTO oidc_payloads (model, id, payload, expires_at)
         VALUES ('RequestUriRedemption', $1, '{}'::jsonb, now() + make_interval(secs => $2::integer))
         ON CONFLICT (model, id) DO NOTHING RETURNING 1`,
        [requestUri.slice(PAR_URN.length), REDEMPTION_RECORD_SECONDS],
      );
      if (rows.length === 0) {
        ctx.status = 400;
        answerAuthorizationError(ctx, {
          error: 'invalid_request_uri',
          error_description: 'request_uri is invalid, expired, or was already used',
        });
        return;
      }
    }
    await next();
  };
}
