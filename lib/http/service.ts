import { readFileSync, watch } from 'node:fs';
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../config/index.ts';
import { stopWithSupervisor } from '../process/supervised.ts';
import { type ErrorShape, errorBody, logServerError, renderError } from './errors.ts';
import { createLogger } from './logger.ts';
import { createManagementListener, type ReadinessChecks } from './management.ts';
import { SERVER_TLS_PROFILE, serverKeyProblem } from './tls-profile.ts';

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
  /**
   * Refuse (production) rather than warn about a server key that cannot serve the FAPI TLS 1.2 suites:
   * start-up fails naming `obkit.tls.private_key`, and a reload to such a key keeps the previous one.
   */
  strictServerKey?: boolean;
}

export interface ServiceOptions {
  name: string;
  logLevel: string;
  tls: TlsFiles;
  /** Port of the management listener (`/health/*`, `/metrics`; `obkit.<service>.management_port`). */
  managementPort: number;
  readiness?: ReadinessChecks;
  /** Error body shape of this service, or of each request path when one service serves both. */
  errorShape?: ErrorShape | ((path: string) => ErrorShape);
  bodyLimit?: number;
  /** How long a shutdown may take (`obkit.shutdown_grace_seconds`); in-flight requests get all but 1 s. */
  shutdownGraceSeconds?: number;
  /**
   * Handles a request before fastify routes it (e.g. a mounted Koa app such as oidc-provider);
   * returns true when it took the request.
   */
  preRoute?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface Service {
  app: FastifyInstance;
  logger: Logger;
  metrics: Registry;
  server: https.Server;
  /** Re-reads the TLS files: new handshakes use them, open connections carry on. */
  reloadTls(): void;
  /** Binds the public port, then the management port on the same address; returns the public port. */
  listen(port: number, host: string): Promise<number>;
  /** Binds only the management port (for a service that bound its public server itself). */
  listenManagement(host: string): Promise<number>;
  /** The bound management port, once listening. */
  readonly managementPort: number;
  /** Every route fastify serves, as `METHOD /path` (diagnostics; the fuzz suite walks them all). */
  readonly routes: readonly string[];
  /** Aborted when the service starts to shut down: long polls end early instead of holding it up. */
  readonly stopping: AbortSignal;
  /**
   * Graceful stop of the listener: readiness turns 503, no new connections are accepted, idle ones
   * close, requests in flight finish (answered with `Connection: close`) within the grace period.
   */
  drain(): Promise<void>;
  /** `drain`, then the routes' own resources (fastify onClose hooks) and the management listener. */
  close(): Promise<void>;
}

/** Default of `obkit.shutdown_grace_seconds`. */
export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 20;
/** Of the grace period, what is kept for closing resources after requests have drained. */
const CLOSE_RESERVE_MS = 1000;
const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * An HTTPS fastify service with the surfaces every obkit component has: the CDS/FAPI TLS profile
 * (tls-profile.ts), JSON logs without secrets, one error renderer (every error, 404 and 405 included, is
 * JSON in the surface's shape), a graceful drain, TLS files that are reloaded when they change
 * (truststore updates take effect without a restart), and a management listener of its own for
 * `/health/live`, `/health/ready` and Prometheus `/metrics` (management.ts), never the public port.
 */
export function createService(options: ServiceOptions): Service {
  const logger = createLogger(options.name, options.logLevel);
  const metrics = serviceMetrics(options.name);
  const shapeOf = shapeOfOption(options.errorShape);

  const tls = serverTls(options.tls, logger);
  const identity = tls.serverIdentity();
  const inFlight = new InFlightRequests();
  const management = createManagementListener({
    logger,
    metrics,
    readiness: options.readiness ?? {},
    stopping: inFlight.stopping,
    tls: identity,
  });
  let managementPort = options.managementPort;
  const listenManagement = async (host: string) => {
    managementPort = await management.listen(options.managementPort, host);
    return managementPort;
  };
  let server!: https.Server;
  // A service may bind its port before fastify has booted (the identity server binds first to learn its
  // own URL); a request routed by an unbooted fastify crashes the process, so it is told to come back.
  let routesReady = false;
  const app = createFastify(options, logger, shapeOf, (handler) => {
    server = https.createServer(
      serverOptions(options.tls, tls.secureContextOptions(identity)),
      (req, res) => {
        inFlight.track(res);
        if (options.preRoute?.(req, res)) return;
        if (!routesReady) answerStarting(res, shapeOf(req.url ?? '/'));
        else handler(req, res);
      },
    );
    return server;
  });

  app.addHook('onReady', async () => {
    routesReady = true;
  });
  observeRequests(app, metrics);
  const routes = new RouteTable(app);
  renderErrorsAsJson(app, shapeOf, routes);

  const reloadTls = () => reloadServerTls(tls, server, management.server, logger);
  const watchers = [options.tls.certificate, options.tls.privateKey, ...(options.tls.clientCas ?? [])].map(
    (file) => watchDebounced(file, reloadTls),
  );
  const graceMs = (options.shutdownGraceSeconds ?? DEFAULT_SHUTDOWN_GRACE_SECONDS) * 1000;
  const drain = () => inFlight.drain(server, Math.max(graceMs - CLOSE_RESERVE_MS, 0), logger);

  return {
    app,
    logger,
    metrics,
    get server() {
      return server;
    },
    reloadTls,
    routes: routes.list,
    stopping: inFlight.stopping,
    get managementPort() {
      return managementPort;
    },
    async listen(port, host) {
      await app.listen({ port, host });
      const address = server.address();
      await listenManagement(host);
      return typeof address === 'object' && address ? address.port : port;
    },
    listenManagement,
    drain,
    async close() {
      for (const watcher of watchers) watcher.close();
      // The management listener stays up through the drain, so probes see readiness 503, not a refusal.
      await drain();
      await Promise.all([app.close(), management.close()]);
    },
  };
}

/** Fastify with obkit's logging, body limit and JSON answers to malformed HTTP, on the given server. */
function createFastify(
  options: ServiceOptions,
  logger: Logger,
  shapeOf: (url: string) => ErrorShape,
  serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => https.Server,
): FastifyInstance {
  return Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One access-log line per request comes from the onResponse hook, with the route and timing.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // Malformed HTTP (bad request line, oversized headers) gets a JSON answer too, then the socket closes.
    clientErrorHandler: (error, socket) => answerClientError(error, socket, shapeOf('/')),
    // A URL fastify cannot decode, or an overlong path parameter: the 400 in the surface's shape.
    frameworkErrors: (error, request, reply) => {
      const rendered = renderError(error, shapeOf(request.url));
      (reply as FastifyReply).code(rendered.status).headers(rendered.headers).send(rendered.body);
    },
    serverFactory,
  }) as unknown as FastifyInstance;
}

function shapeOfOption(errorShape: ServiceOptions['errorShape']): (url: string) => ErrorShape {
  return typeof errorShape === 'function' ? errorShape : () => errorShape ?? 'oauth';
}

function serviceMetrics(name: string): Registry {
  const metrics = new Registry();
  // `component`, not `service`: Prometheus's Kubernetes discovery adds a `service` label of its own.
  metrics.setDefaultLabels({ component: name });
  collectDefaultMetrics({ register: metrics });
  return metrics;
}

/** New handshakes on both listeners use the TLS files as they are now. */
function reloadServerTls(
  tls: ReturnType<typeof serverTls>,
  server: https.Server,
  managementServer: https.Server,
  logger: Logger,
): void {
  try {
    const reloaded = tls.serverIdentity();
    server.setSecureContext(tls.secureContextOptions(reloaded));
    managementServer.setSecureContext(reloaded);
    logger.info('TLS material reloaded');
  } catch (error) {
    // Keep serving with the last good context rather than going dark on a half-written file.
    logger.error({ err: error }, 'TLS reload failed; keeping the previous certificates');
  }
}

function serverOptions(tls: ServiceOptions['tls'], context: https.ServerOptions): https.ServerOptions {
  return {
    ...context,
    requestCert: tls.requestCert ?? false,
    rejectUnauthorized: tls.rejectUnauthorized ?? false,
  };
}

/** The server's certificate and key (checked against the key rules) and the client CAs it trusts. */
function serverTls(tls: ServiceOptions['tls'], logger: Logger) {
  const serverIdentity = () => {
    const key = readFileSync(tls.privateKey);
    const problem = serverKeyProblem(key);
    if (problem) {
      const error = new ConfigError('obkit.tls.private_key', `${tls.privateKey}: ${problem}`);
      if (tls.strictServerKey) throw error;
      logger.warn(error.message);
    }
    return { ...SERVER_TLS_PROFILE, cert: readFileSync(tls.certificate), key };
  };
  const secureContextOptions = (identity: ReturnType<typeof serverIdentity>) => {
    const ca = [
      ...(tls.clientCas ?? []).map((file) => readFileSync(file, 'utf8')),
      ...(tls.clientCaPems?.() ?? []),
    ];
    return { ...identity, ...(ca.length ? { ca } : {}) };
  };
  return { serverIdentity, secureContextOptions };
}

/**
 * The requests a listener is answering, so that a shutdown lets them finish: on `drain` the listener
 * stops accepting connections and closes idle keep-alive ones; each request in flight (and any that
 * still arrives on its connection) is answered with `Connection: close`; what is still open when the
 * budget runs out is cut.
 */
class InFlightRequests {
  readonly #responses = new Set<ServerResponse>();
  readonly #stopping = new AbortController();
  #drained: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;

  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  track(res: ServerResponse): void {
    this.#responses.add(res);
    if (this.#stopping.signal.aborted) res.shouldKeepAlive = false;
    res.once('close', () => {
      this.#responses.delete(res);
      if (this.#responses.size === 0) this.#onIdle?.();
    });
  }

  drain(server: https.Server, budgetMs: number, logger: Logger): Promise<void> {
    this.#drained ??= this.#drain(server, budgetMs, logger);
    return this.#drained;
  }

  async #drain(server: https.Server, budgetMs: number, logger: Logger): Promise<void> {
    this.#stopping.abort();
    if (server.listening) server.close();
    server.closeIdleConnections();
    for (const res of this.#responses) res.shouldKeepAlive = false;
    if (this.#responses.size > 0) {
      logger.info({ inFlight: this.#responses.size }, 'draining requests in flight');
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        timer = setTimeout(resolve, budgetMs);
      });
      clearTimeout(timer);
      if (this.#responses.size > 0) {
        logger.warn({ cut: this.#responses.size }, 'shutdown grace period over; cutting requests in flight');
      }
    }
    server.closeAllConnections();
  }
}

function observeRequests(app: FastifyInstance, metrics: Registry): void {
  const requests = new Counter({
    name: 'obkit_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [metrics],
  });
  const duration = new Histogram({
    name: 'obkit_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
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
}

/**
 * The routes fastify serves, kept in a second router: fastify's answers "no route" alike for an unknown
 * path and for a known path with another method, which this one tells apart.
 */
class RouteTable {
  readonly list: string[] = [];
  readonly #router = FindMyWay();

  constructor(app: FastifyInstance) {
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat() as HTTPMethod[]) {
        if (this.#router.hasRoute(method, route.url)) continue;
        this.#router.on(method, route.url, () => {});
        this.list.push(`${method} ${route.url}`);
      }
    });
  }

  /** The methods served at `path` (a request path, without the query). */
  methodsAt(path: string): HTTPMethod[] {
    return METHODS.filter((method) => this.#router.find(method, path));
  }
}

/** Errors, unknown paths (404) and known paths with another method (405 + `Allow`), all as JSON. */
function renderErrorsAsJson(
  app: FastifyInstance,
  shapeOf: (url: string) => ErrorShape,
  routes: RouteTable,
): void {
  app.setErrorHandler((error, request, reply) => {
    const rendered = renderError(error, shapeOf(request.url));
    logServerError(request.log, error, rendered.status);
    reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routes.methodsAt(path);
    const shape = shapeOf(request.url);
    if (allowed.length > 0) {
      reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody(shape, 405, `${request.method} is not allowed here; allowed: ${allowed.join(', ')}`));
      return;
    }
    reply.code(404).send(errorBody(shape, 404, `no resource at ${request.method} ${path}`));
  });
}

/** 503 with `Retry-After`, in the surface's shape, for a request that arrives before the routes are ready. */
function answerStarting(res: ServerResponse, shape: ErrorShape): void {
  const body = JSON.stringify(errorBody(shape, 503, 'the service is starting; retry shortly'));
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(body);
}

/** A JSON 400 (431 for oversized headers, 408 for a timed-out request) on a socket the HTTP parser gave up on. */
function answerClientError(error: Error & { code?: string }, socket: Socket, shape: ErrorShape): void {
  // A request whose body broke (bad chunking) may be waiting for its answer: it gets this one instead.
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (!socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify(errorBody(shape, status, 'the request is not valid HTTP'));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
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

/**
 * Stops the service on SIGINT/SIGTERM: readiness 503, requests in flight finish, resources close, and
 * the process exits within `graceSeconds` (forced, with exit code 1, if something hangs).
 */
export function handleShutdown(
  logger: Logger,
  stop: () => Promise<void>,
  graceSeconds = DEFAULT_SHUTDOWN_GRACE_SECONDS,
): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceSeconds }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown did not finish within the grace period; exiting');
      process.exit(1);
    }, graceSeconds * 1000);
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
  stopWithSupervisor();
}
