import { z } from 'zod';

/**
 * The revocation feed: how an identity server tells every gateway replica which access tokens it must
 * refuse before they expire. Served by the identity server at `REVOCATIONS_PATH`, only to connections
 * authenticated with the gateway's internal client certificate; every identity-server replica serves
 * it from the shared database.
 *
 * A revocation names a token claim and a value: every token whose claim has that value is refused until
 * `expiresAt` (epoch seconds), by then every such token has expired anyway. `jti` ends one token,
 * `client_id` every token of a deleted or deactivated client; later claims (a consent arrangement) need
 * no change here.
 *
 * `GET REVOCATIONS_PATH` — every revocation still in force, and a `cursor`.
 * `GET REVOCATIONS_PATH?after=<cursor>&wait=<seconds>` — only revocations recorded after the cursor; with
 * none, the request is held until one is recorded or `wait` passes (then an empty list). `complete:
 * false` says more are waiting: ask again at once with the new cursor.
 */

export const REVOCATIONS_PATH = '/internal/gateway/v1/revocations';

/** The additionalProperties key of a KeyManagerDTO that names its revocation feed (absent on WSO2). */
export const REVOCATION_FEED_PROPERTY = 'revocation_feed_endpoint';

export const revocationSchema = z.object({
  claim: z.string().min(1),
  value: z.string().min(1),
  expiresAt: z.number().int(),
});
export type Revocation = z.infer<typeof revocationSchema>;

export const revocationPageSchema = z.object({
  cursor: z.number().int().min(0),
  complete: z.boolean(),
  revocations: z.array(revocationSchema),
});
export type RevocationPage = z.infer<typeof revocationPageSchema>;
