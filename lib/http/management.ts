import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** Readiness checks by name; each throws (or rejects) when its dependency is not available. */
export type ReadinessChecks = Record<string, () => Promise<void> | void>;

export interface ManagementListener {
  server: https.Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * The management listener of a service: `/health/live`, `/health/ready` and `/metrics` on a port of
 * their own, so the public ports (above all the gateway's) never reveal API names, status counts or
 * the runtime. Same TLS profile and server certificate as the public listener; no client certificate
 * is asked for — probes and scrapers have none — so the port is kept internal (NetworkPolicy).
 */
export function createManagementListener(options: {
  logger: Logger;
  metrics: Registry;
  readiness: ReadinessChecks;
  /** Aborted when the service starts to shut down: readiness answers 503 from then on. */
  stopping: AbortSignal;
  tls: SecureContextOptions;
}): ManagementListener {
  let server!: https.Server;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Probes arrive every few seconds: no access-log line for each.
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => {
      server = https.createServer({ ...options.tls, requestCert: false }, handler);
      return server;
    },
  }) as unknown as FastifyInstance;

  app.get('/health/live', async () => ({ status: 'UP' }));
  app.get('/health/ready', async (_request, reply) => {
    // First thing a shutdown does: load balancers stop sending new requests while old ones finish.
    if (options.stopping.aborted) {
      return reply.code(503).send({ status: 'DOWN', checks: { shutdown: 'DOWN: shutting down' } });
    }
    const checks: Record<string, string> = {};
    let ready = true;
    for (const [name, check] of Object.entries(options.readiness)) {
      try {
        await check();
        checks[name] = 'UP';
      } catch (error) {
        ready = false;
        checks[name] = `DOWN: ${(error as Error).message}`;
      }
    }
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'UP' : 'DOWN', checks });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(options.metrics.contentType).send(await options.metrics.metrics());
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: 'not_found',
      error_description: `the management port serves /health/live, /health/ready and /metrics only, not ${request.url.split('?')[0]}`,
    });
  });

  return {
    get server() {
      return server;
    },
    async listen(port, host) {
      await app.listen({ port, host });
      const address = server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    async close() {
      server.closeAllConnections?.();
      await app.close();
    },
  };
}
