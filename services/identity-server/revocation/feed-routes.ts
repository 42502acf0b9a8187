import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { REVOCATIONS_PATH } from '../../../lib/gateway-feed/revocations.ts';
import { AccessDenied, InvalidRequest } from '../../../lib/http/errors.ts';
import type { RevocationStore } from './store.ts';

const MAX_WAIT_SECONDS = 30;
/** How often a held poll re-reads the table, catching revocations recorded by other replicas. */
const RECHECK_MS = 1000;

const query = z.object({
  after: z.coerce.number().int().min(0).default(0),
  wait: z.coerce.number().min(0).max(MAX_WAIT_SECONDS).default(0),
});

export interface RevocationFeedOptions {
  revocations: RevocationStore;
  /** True on connections authenticated with the gateway's internal client certificate. */
  isGateway(request: IncomingMessage): boolean;
  /** Aborted when the service shuts down: held polls answer at once instead of holding up the drain. */
  stopping: AbortSignal;
}

/**
 * `GET /internal/gateway/v1/revocations` (lib/gateway-feed/revocations.ts): the revocations every gateway
 * replica must honour, to the gateway only. A poll with `after` and `wait` is held until a revocation
 * newer than `after` is recorded (here, or through another replica: re-read every second) or the wait ends.
 */
export async function revocationFeedRoutes(app: FastifyInstance, options: RevocationFeedOptions) {
  const { revocations } = options;
  app.get(REVOCATIONS_PATH, async (request, reply) => {
    if (!options.isGateway(request.raw)) {
      throw new AccessDenied(
        'the revocation feed is only served to the gateway (internal client certificate)',
      );
    }
    const parsed = query.safeParse(request.query);
    if (!parsed.success) throw new InvalidRequest('after must be a cursor and wait at most 30 seconds');
    const { after, wait } = parsed.data;
    const deadline = Date.now() + wait * 1000;
    const closed = new AbortController();
    request.raw.once('close', () => closed.abort());
    const done = AbortSignal.any([closed.signal, options.stopping]);
    let seen = revocations.changes.version;
    let page = await revocations.page(after);
    while (!page.revocations.length && Date.now() < deadline && !done.aborted) {
      await revocations.changes.next(Math.min(RECHECK_MS, deadline - Date.now()), done, seen);
      seen = revocations.changes.version;
      page = await revocations.page(after);
    }
    reply.header('cache-control', 'no-store');
    return page;
  });
}
