import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AccessDenied, NotFound } from '../../../lib/http/errors.ts';
import { BANKING_COMMON_NAME } from '../../../lib/http/forwarded-certificate.ts';
import type { ArrangementStore } from './store.ts';

/** Where the banking service reads what an arrangement covers. */
export const INTERNAL_ARRANGEMENT_PATH = '/internal/arrangements/:arrangementId';

export interface InternalArrangementOptions {
  arrangements: ArrangementStore;
  /** True for a request on the banking service's own connection (internal CA, CN=obkit-banking). */
  isBanking(request: FastifyRequest): boolean;
}

/**
 * `GET /internal/arrangements/{id}`: the customer, accounts, scope and status of an arrangement, for the
 * banking service only — its internal client certificate, never a recipient's, the gateway's or an
 * admin password. Read on every data request, so an amendment or revocation applies at once.
 */
export async function internalArrangementRoutes(
  app: FastifyInstance,
  options: InternalArrangementOptions,
): Promise<void> {
  app.get<{ Params: { arrangementId: string } }>(INTERNAL_ARRANGEMENT_PATH, async (request) => {
    if (!options.isBanking(request)) {
      throw new AccessDenied(
        `only the banking service's internal client certificate (CN=${BANKING_COMMON_NAME}) may read arrangements`,
      );
    }
    const arrangement = await options.arrangements.find(request.params.arrangementId);
    if (!arrangement) throw new NotFound('no such arrangement');
    return {
      cdr_arrangement_id: arrangement.arrangementId,
      client_id: arrangement.clientId,
      customer_id: arrangement.customerId,
      account_ids: arrangement.accountIds,
      scope: arrangement.scope,
      status: arrangement.status,
      expires_at: arrangement.expiresAt ?? null,
    };
  });
}
