import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import {
  PLAN_USAGE_PATH,
  type PlanUsageAnswer,
  planUsageReportSchema,
} from '../../../lib/gateway-feed/plan-usage.ts';
import { SNAPSHOT_PATH } from '../../../lib/gateway-feed/snapshot.ts';
import { ApiError } from '../../../lib/http/errors.ts';
import { isGatewayConnection } from '../../../lib/http/forwarded-certificate.ts';
import { queryOf, schemaTyped, text } from '../../../lib/http/route-schemas.ts';
import { WindowCounters } from '../../../lib/limits/window-counters.ts';
import type { ApiManagerContext } from '../context.ts';
import { parseBody } from '../request.ts';
import { buildSnapshot } from './build-snapshot.ts';

const MAX_WAIT_SECONDS = 60;
/** How often a held long poll re-checks, catching changes made through other api-manager replicas. */
const RECHECK_MS = 2000;

/**
 * `GET /internal/gateway/v1/snapshot`: the gateway configuration snapshot, only to connections that
 * present the gateway's internal client certificate. ETag/If-None-Match → 304; `?wait=N` holds a
 * request whose ETag is current until the snapshot changes or N seconds pass.
 */
export function registerFeedRoutes(
  app: FastifyInstance,
  context: ApiManagerContext,
  internalCas: X509Certificate[],
): void {
  // `wait` is read leniently (anything not a number is 0), as the feed always was.
  schemaTyped(app).get(
    SNAPSHOT_PATH,
    { schema: { querystring: queryOf({ wait: text(32) }) } },
    async (request, reply) => {
      if (!isGatewayConnection(request.raw.socket as TLSSocket, internalCas)) {
        throw new ApiError(
          403,
          'Forbidden',
          'the gateway feed is only served to the gateway (internal client certificate)',
        );
      }
      const waitSeconds = Math.min(Math.max(Number(request.query.wait ?? 0) || 0, 0), MAX_WAIT_SECONDS);
      const known = request.headers['if-none-match'];
      const deadline = Date.now() + waitSeconds * 1000;
      const closed = new AbortController();
      request.raw.once('close', () => closed.abort());
      // A shutdown answers held polls at once: the gateway re-polls another replica.
      const done = AbortSignal.any([closed.signal, context.stopping]);
      let seen = context.changes.version;
      let snapshot = await buildSnapshot(context);
      while (known === etagOf(snapshot.version) && Date.now() < deadline && !done.aborted) {
        await context.changes.next(Math.min(RECHECK_MS, deadline - Date.now()), done, seen);
        seen = context.changes.version;
        snapshot = await buildSnapshot(context);
      }
      reply.header('etag', etagOf(snapshot.version)).header('cache-control', 'no-cache');
      if (known === etagOf(snapshot.version)) return reply.code(304).send();
      return snapshot;
    },
  );
}

/**
 * `POST /internal/gateway/v1/plan-usage`: a gateway replica's business-plan usage since its last report,
 * added to the shared window counters (one per subscription, in this database); the answer is every
 * replica's count, so the replicas together admit one plan. Only the gateway may report.
 */
export function registerPlanUsageRoutes(
  app: FastifyInstance,
  context: ApiManagerContext,
  internalCas: X509Certificate[],
): void {
  const counters = new WindowCounters(context.db);
  app.post(PLAN_USAGE_PATH, async (request): Promise<PlanUsageAnswer> => {
    if (!isGatewayConnection(request.raw.socket as TLSSocket, internalCas)) {
      throw new ApiError(
        403,
        'Forbidden',
        'plan usage is only taken from the gateway (internal client certificate)',
      );
    }
    const report = parseBody(planUsageReportSchema, request.body);
    const counted = await counters.add(
      report.windows.map((window) => ({ ...window, key: `${PLAN_KEY_PREFIX}${window.key}` })),
    );
    return {
      windows: [...counted.values()].map((window) => ({
        key: window.key.slice(PLAN_KEY_PREFIX.length),
        count: window.count,
        expiresAt: window.expiresAt,
      })),
    };
  });
}

/** Keeps the gateways' keys apart from the other counters in the table (the admin lockout's). */
const PLAN_KEY_PREFIX = 'plan:';

function etagOf(version: string): string {
  return `"${version}"`;
}
