import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ArrangementStore } from '../arrangements/store.ts';

/** CDS: a sharing duration above one year is shortened to one year. */
export const MAX_SHARING_DURATION = 365 * 24 * 3600;

/**
 * The CDR's authorisation request parameters (CDS "Authorisation Request"): `sharing_duration` in seconds
 * (absent or 0 is a one-off consent, negative is refused, more than a year is a year) and
 * `cdr_arrangement_id`, which names an active arrangement of the same client to amend.
 */
export function sharingDurationOf(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^-?\d+$/.test(value)) throw new errors.InvalidRequest('sharing_duration must be an integer');
  const seconds = Number(value);
  if (seconds < 0) throw new errors.InvalidRequest('sharing_duration must not be negative');
  return Math.min(seconds, MAX_SHARING_DURATION);
}

/** The provider's `extraParams`: each parameter with its validation, run at PAR and at authorisation. */
export function cdrRequestParameters(arrangements: ArrangementStore) {
  return {
    async sharing_duration(_ctx: KoaContextWithOIDC, value: string | undefined) {
      sharingDurationOf(value);
    },
    async cdr_arrangement_id(ctx: KoaContextWithOIDC, value: string | undefined) {
      if (value === undefined) return;
      const arrangement = await arrangements.find(value);
      if (arrangement?.status !== 'active' || arrangement.clientId !== ctx.oidc.client?.clientId) {
        throw new errors.InvalidRequest('cdr_arrangement_id is not an active arrangement of this client');
      }
    },
  };
}
