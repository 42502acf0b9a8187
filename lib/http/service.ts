import { readFileSync, watch } from 'node:fs';
import https from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { renderError } from './errors.ts';
import { createLogger } from './logger.ts';

export interface TlsFiles {
  certificate: string;
  privateKey: string;
  /** CA bundles trusted for client certificates (e.g. the recipients' truststore and the internal CA). */
  clientCas?: string[];
  /** Further trusted client CAs held in memory (e.g. the truststore the gateway receives in its feed). */
  clientCaPems?: () => string[];
  /** Ask for a client certificate. Verification is left to the handler unless `rejectUnauthorized`. */
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
}

export interface ServiceOptions {
  name: string;
  logLevel: string;
  tls: TlsFiles;
  /** Readiness checks by name; each throws (or rejects) when its dependency is not available. */
  readiness?: Record<string, () => Promise<void> | void>;
  /** Error body shape of this surface. */
  errorShape?: 'oauth' | 'wso2';
  bodyLimit?: number;
  /**
   * Handles a request before fastify routes it (e.g. a mounted Koa app such as oidc-provider);
   * returns true when it took the request.
   */
  preRoute?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => boolean;
}

export interface Service {
  app: FastifyInstance;
  logger: Logger;
  metrics: Registry;
  server: https.Server;
  /** Re-reads the TLS files: new handshakes use them, open connections carry on. */
  reloadTls(): void;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * An HTTPS fastify service with the surfaces every obkit component has: JSON logs without secrets,
 * `/health/live`, `/health/ready`, Prometheus `/metrics`, one error renderer, and TLS files that are
 * reloaded when they change (truststore updates take effect without a restart).
 */
export function createService(options: ServiceOptions): Service {
  const logger = createLogger(options.name, options.logLevel);
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: options.name });
  collectDefaultMetrics({ register: metrics });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [metrics],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });

  const secureContextOptions = () => {
    const ca = [
      ...(options.tls.clientCas ?? []).map((file) => readFileSync(file, 'utf8')),
      ...(options.tls.clientCaPems?.() ?? []),
    ];
    return {
      cert: readFileSync(options.tls.certificate),
      key: readFileSync(options.tls.privateKey),
      ...(ca.length ? { ca } : {}),
    };
  };
  let server!: https.Server;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One access-log line per request comes from the onResponse hook below, with the route and timing.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1_048_576,
    serverFactory: (handler) => {
      server = https.createServer(
        {
          ...secureContextOptions(),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: options.tls.rejectUnauthorized ?? false,
          minVersion: 'TLSv1.2',
        },
        (req, res) => {
          if (options.preRoute?.(req, res)) return;
          handler(req, res);
        },
      );
      return server;
    },
  }) as unknown as FastifyInstance;

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: reply.statusCode });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        url: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  app.setErrorHandler((error, request, reply) => {
    const rendered = renderError(error, options.errorShape);
    if (rendered.status >= 500) request.log.error({ err: error }, 'request failed');
    reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body =
      options.errorShape === 'wso2'
        ? {
            code: 404,
            message: 'Not Found',
            description: `no resource at ${request.method} ${request.url.split('?')[0]}`,
          }
        : {
            error: 'not_found',
            error_description: `no resource at ${request.method} ${request.url.split('?')[0]}`,
          };
    reply.code(404).send(body);
  });

  app.get('/health/live', async () => ({ status: 'UP' }));
  app.get('/health/ready', async (_request, reply) => {
    const checks: Record<string, string> = {};
    let ready = true;
    for (const [name, check] of Object.entries(options.readiness ?? {})) {
      try {
        await check();
        checks[name] = 'UP';
      } catch (error) {
        ready = false;
        checks[name] = `DOWN: ${(error as Error).message}`;
      }
    }
    reply.code(ready ? 200 : 503).send({ status: ready ? 'UP' : 'DOWN', checks });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.contentType).send(await metrics.metrics());
  });

  const reloadTls = () => {
    try {
      server.setSecureContext(secureContextOptions());
      logger.info('TLS material reloaded');
    } catch (error) {
      // Keep serving with the last good context rather than going dark on a half-written file.
      logger.error({ err: error }, 'TLS reload failed; keeping the previous certificates');
    }
  };
  const watchers = [options.tls.certificate, options.tls.privateKey, ...(options.tls.clientCas ?? [])].map(
    (file) => watchDebounced(file, reloadTls),
  );

  return {
    app,
    logger,
    metrics,
    get server() {
      return server;
    },
    reloadTls,
    async listen(port, host) {
      await app.listen({ port, host });
      const address = server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    async close() {
      for (const watcher of watchers) watcher.close();
      server.closeAllConnections?.();
      await app.close();
    },
  };
}

function watchDebounced(file: string, onChange: () => void): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  try {
    // Watch the directory: editors and `kubectl` Secret updates replace files rather than write in place.
    const directory = file.slice(0, file.lastIndexOf('/')) || '.';
    const base = file.slice(file.lastIndexOf('/') + 1);
    const watcher = watch(directory, (_event, name) => {
      if (name !== null && name !== base && !name.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, 100);
    });
    watcher.unref();
    return {
      close() {
        clearTimeout(timer);
        watcher.close();
      },
    };
  } catch {
    return { close() {} };
  }
}

/** Stops the service on SIGINT/SIGTERM: stop accepting, finish in-flight requests, close resources. */
export function handleShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
