import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import { Agent, request } from 'undici';
import { type Config, serviceUrl } from '../../lib/config/index.ts';
import {
  PLAN_USAGE_PATH,
  type PlanUsageAnswer,
  type PlanUsageReport,
  planUsageAnswerSchema,
} from '../../lib/gateway-feed/plan-usage.ts';
import type { GatewaySnapshot } from '../../lib/gateway-feed/snapshot.ts';
import {
  AccessDenied,
  InsufficientScope,
  InvalidClient,
  InvalidToken,
  OAuthError,
  renderError,
  TemporarilyUnavailable,
  TooManyRequests,
} from '../../lib/http/errors.ts';
import { CLIENT_CERTIFICATE_HEADER } from '../../lib/http/forwarded-certificate.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { createAccessLog } from './access-log.ts';
import { type ClientIdentity, inspectClientCertificate } from './client-certificate.ts';
import { readSnapshotFile, SnapshotFeed, writeSnapshotFile } from './feed.ts';
import { type Headers, mediate } from './mediation.ts';
import { PlanLimits } from './rate-limit.ts';
import { Revocations } from './revocations.ts';
import { type Route, route } from './router.ts';
import { applicationKeyOf, compileSnapshot, type Endpoint, type Runtime } from './runtime.ts';
import { TokenValidator, type ValidatedToken } from './tokens.ts';
import { type UpstreamOptions, Upstreams } from './upstream.ts';
import { SecretVault } from './vault.ts';

export interface GatewayOptions {
  /**
   * Where snapshots come from: `api-manager` (default) pulls the feed from `obkit.api_manager.url`;
   * `manual` waits for `setSnapshot` (unit tests, tools). Either way the last one is kept on disk.
   */
  feed?: 'api-manager' | 'manual';
  /**
   * Business-plan counts: `api-manager` (default with the api-manager feed) shares them with the other
   * replicas through `obkit.api_manager.url`; `local` keeps them in this process alone.
   */
  planUsage?: 'api-manager' | 'local';
  /** The gateway environment this gateway serves (WSO2's `Default`). */
  environment?: string;
  upstream?: Partial<Omit<UpstreamOptions, 'tls'>>;
  feedWaitSeconds?: number;
  feedRetryMs?: number;
  maxRequestBytes?: number;
  /** Timeout for key-manager calls (JWKS, introspection). */
  keyManagerTimeoutMs?: number;
  logLevel?: string;
}

export interface Gateway {
  url: string;
  port: number;
  service: Service;
  /** Version of the snapshot being served, if any. */
  readonly snapshotVersion: string | undefined;
  /** The snapshot being served, if any (diagnostics and tests). */
  readonly snapshot: GatewaySnapshot | undefined;
  /** Serves this snapshot from now on (and keeps it on disk as the last good copy). */
  setSnapshot(snapshot: GatewaySnapshot): Promise<void>;
  /** Shares business-plan usage with the other replicas now, rather than at the next interval. */
  reportPlanUsage(): Promise<void>;
  close(): Promise<void>;
}

/** Request headers that describe one hop; never relayed to a backend. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  // Node already answered `100 Continue`; undici refuses to send the header on.
  'expect',
]);

class PayloadTooLarge extends OAuthError {
  constructor(limit: number) {
    super(413, 'invalid_request', `the request body exceeds ${limit} bytes`);
  }
}

/**
 * The data plane: terminates mutual TLS against the recipients' truststore, routes to deployed API
 * revisions, authorises with the enabled key managers, runs the attached mediation and proxies to the
 * backend over internal mutual TLS. It holds no state of its own beyond the last good snapshot.
 */
export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const ob = config.obkit;
  const environment = options.environment ?? 'Default';
  const snapshotFile = join(ob.state_dir, 'gateway', 'snapshot.json');
  const maxRequestBytes = options.maxRequestBytes ?? 1_048_576;
  const outboundCa = [...rootCertificates];
  for (const file of [ob.tls.outbound_ca, ob.tls.internal_ca]) {
    if (file && existsSync(file)) outboundCa.push(readFileSync(file, 'utf8'));
  }
  // One TLS context for every internal connection: parsing the CA list per connection costs milliseconds.
  const internalTls = {
    secureContext: createSecureContext({
      cert: readFileSync(ob.tls.internal_client_certificate, 'utf8'),
      key: readFileSync(ob.tls.internal_client_key, 'utf8'),
      ca: outboundCa,
    }),
  };
  const keyManagerTimeoutMs = options.keyManagerTimeoutMs ?? 5000;
  const internalAgent = new Agent({
    connect: { ...internalTls, timeout: keyManagerTimeoutMs },
    headersTimeout: keyManagerTimeoutMs,
    bodyTimeout: keyManagerTimeoutMs,
  });

  let runtime: Runtime | undefined;
  const service = createService({
    name: 'gateway',
    logLevel: options.logLevel ?? ob.log_level,
    tls: {
      certificate: ob.tls.certificate,
      privateKey: ob.tls.private_key,
      clientCas: [ob.tls.truststore],
      clientCaPems: () => (runtime?.snapshot.truststorePem ? [runtime.snapshot.truststorePem] : []),
      requestCert: true,
      // A connection without a certificate is answered (401 invalid_client below), not cut at the handshake.
      rejectUnauthorized: false,
      strictServerKey: ob.mode === 'production',
    },
    shutdownGraceSeconds: ob.shutdown_grace_seconds,
    managementPort: ob.gateway.management_port,
    readiness: {
      snapshot: () => {
        if (!runtime) throw new Error('no gateway snapshot loaded yet');
      },
    },
    // Every request on the public port is an API call; health and metrics live on the management port.
    preRoute: (req, res) => {
      void handle(req, res);
      return true;
    },
  });
  const logger = service.logger;
  const accessLog = createAccessLog(options.logLevel ?? ob.log_level);
  // A presented certificate that fails verification ends the connection, as a handshake refusal would.
  service.server.on('secureConnection', (socket: TLSSocket) => {
    const verdict = inspectClientCertificate(socket);
    if (verdict.kind === 'refused') {
      logger.info(
        { reason: verdict.reason },
        'refused a connection: its client certificate breaks the client-certificate rules',
      );
      socket.destroy();
    }
  });

  const requests = new Counter({
    name: 'obkit_gateway_requests_total',
    help: 'Gateway API requests by API and status',
    labelNames: ['api', 'status'],
    registers: [service.metrics],
  });
  const duration = new Histogram({
    name: 'obkit_gateway_request_duration_seconds',
    help: 'Gateway API request duration by API, including the backend',
    labelNames: ['api'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [service.metrics],
  });
  const requestCounters = new Map<string, Counter.Internal>();
  const durationHistograms = new Map<string, Histogram.Internal<'api'>>();

  const upstreams = new Upstreams({
    tls: internalTls,
    connectTimeoutMs: options.upstream?.connectTimeoutMs ?? 5000,
    headersTimeoutMs: options.upstream?.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.upstream?.bodyTimeoutMs ?? 30_000,
    maxResponseBytes: options.upstream?.maxResponseBytes ?? 10_485_760,
    connections: options.upstream?.connections ?? 128,
  });
  const revocations = new Revocations(internalAgent, logger);
  const tokens = new TokenValidator(internalAgent, keyManagerTimeoutMs, revocations);
  const sharePlanUsage =
    (options.planUsage ?? (options.feed === 'manual' ? 'local' : 'api-manager')) === 'api-manager';
  const limiter = new PlanLimits({
    intervalMs: ob.limits.plan_sync_interval_ms,
    logger,
    ...(sharePlanUsage
      ? { report: (report) => reportPlanUsage(ob.api_manager.url, internalAgent, report) }
      : {}),
  });
  const vault = new SecretVault(ob.vault_dir, logger);

  let persisting: Promise<void> = Promise.resolve();
  const apply = (snapshot: GatewaySnapshot, persist: boolean) => {
    const next = compileSnapshot(snapshot, environment);
    const truststoreChanged = next.snapshot.truststorePem !== runtime?.snapshot.truststorePem;
    runtime = next;
    tokens.reset();
    revocations.follow(snapshot.keyManagers);
    vault.checkAliases(next.vaultAliases);
    if (truststoreChanged) service.reloadTls();
    logger.info({ version: snapshot.version, apis: snapshot.apis.length }, 'gateway snapshot loaded');
    if (persist) {
      persisting = persisting
        .then(() => writeSnapshotFile(snapshotFile, snapshot))
        .catch((error) => logger.error({ err: error }, 'could not keep the snapshot on disk'));
    }
    return persisting;
  };
  const onDisk = await readSnapshotFile(snapshotFile, logger);
  if (onDisk) {
    try {
      void apply(onDisk, false);
    } catch (error) {
      logger.warn({ err: error }, 'ignoring a disk snapshot this gateway cannot compile');
    }
  }

  const feed =
    (options.feed ?? 'api-manager') === 'api-manager'
      ? new SnapshotFeed({
          apiManagerUrl: ob.api_manager.url,
          dispatcher: internalAgent,
          waitSeconds: options.feedWaitSeconds ?? 30,
          retryMs: options.feedRetryMs ?? 1000,
          maxRetryMs: 15_000,
          startupRetryMs: Math.min(250, options.feedRetryMs ?? 250),
          logger,
          onSnapshot: (snapshot) => {
            try {
              void apply(snapshot, true);
            } catch (error) {
              logger.error({ err: error }, 'could not compile the snapshot; serving the previous one');
            }
          },
        })
      : undefined;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const log: AccessLog = { api: '-', clientId: '-' };
    let status: number;
    try {
      status = await proxy(req, res, log);
    } catch (error) {
      status = sendError(res, error, logger);
    }
    const ms = performance.now() - started;
    const key = `${log.api}|${status}`;
    let counter = requestCounters.get(key);
    if (!counter) {
      counter = requests.labels(log.api, String(status));
      requestCounters.set(key, counter);
    }
    counter.inc();
    let histogram = durationHistograms.get(log.api);
    if (!histogram) {
      histogram = duration.labels(log.api);
      durationHistograms.set(log.api, histogram);
    }
    histogram.observe(ms / 1000);
    accessLog.write({
      method: req.method ?? 'GET',
      path: pathOf(req.url),
      status,
      ms: Math.round(ms * 10) / 10,
      api: log.api,
      clientId: log.clientId,
    });
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, log: AccessLog): Promise<number> {
    // Never believe a forwarded certificate from a client (Node lower-cases names: any case is caught).
    delete req.headers[CLIENT_CERTIFICATE_HEADER];
    const verdict = inspectClientCertificate(req.socket as TLSSocket);
    if (verdict.kind !== 'trusted') throw new InvalidClient('a trusted client certificate is required');
    const current = runtime;
    if (!current) throw new TemporarilyUnavailable('the gateway has no configuration yet', 5);
    const method = req.method ?? 'GET';
    const matched = route(current, req.headers.host, method, req.url ?? '/');
    const { api, operation } = matched;
    log.api = api.api.name;

    let token: ValidatedToken | undefined;
    let endpoint: Endpoint | null = api.production;
    if (operation.secured) {
      const raw = bearerToken(req.headers, matched.api.authorizationHeader);
      // A token seen before is answered from the cache without a trip through the event loop.
      token = authorise(
        matched,
        tokens.cached(raw) ?? (await tokens.validate(raw, current)),
        verdict.identity,
      );
      log.clientId = token.clientId;
      endpoint = subscribe(current, matched, token);
    }
    if (!endpoint) throw new AccessDenied(`${api.api.name} has no endpoint for this key type`);

    const body = hasBody(req) ? await readBody(req, maxRequestBytes) : undefined;
    const headers = forwardHeaders(req, operation.secured ? api.authorizationHeader : undefined);
    let properties: Map<string, string> | undefined;
    if (operation.request.length || operation.response.length || operation.fault.length) {
      properties = new Map();
      if (token) {
        properties.set('api.ut.consumerKey', token.clientId);
        if (token.subject) properties.set('api.ut.userName', token.subject);
      }
      mediate(operation.request, headers, properties, vault);
    }
    // Set last, after mediation: the backend sees exactly the certificate this connection verified.
    headers[CLIENT_CERTIFICATE_HEADER] = verdict.identity.headerValue;

    let response: Awaited<ReturnType<Upstreams['send']>>;
    try {
      response = await upstreams.send(
        endpoint.origin,
        endpoint.basePath + matched.resourcePath,
        method,
        headers as IncomingHttpHeaders,
        body,
      );
    } catch (error) {
      if (!(error instanceof OAuthError) || !operation.fault.length) throw error;
      const rendered = renderError(error);
      const faultHeaders: Headers = { ...rendered.headers, 'content-type': 'application/json' };
      mediate(operation.fault, faultHeaders, properties ?? new Map(), vault);
      return send(res, rendered.status, faultHeaders, Buffer.from(JSON.stringify(rendered.body)));
    }
    if (operation.response.length)
      mediate(operation.response, response.headers, properties ?? new Map(), vault);
    return send(res, response.status, response.headers, response.body);
  }

  /** The operation's checks on a validated token: key manager, certificate binding, scopes, DCR client. */
  function authorise(matched: Route, token: ValidatedToken, identity: ClientIdentity): ValidatedToken {
    if (!token.keyManager.enabled)
      throw new InvalidToken(`the key manager ${token.keyManager.name} is disabled`);
    if (token.boundThumbprint !== identity.thumbprint) {
      throw new InvalidToken('the access token is not bound to the presented client certificate');
    }
    for (const scope of matched.operation.scopes) {
      if (!token.scopes.has(scope)) throw new InsufficientScope(scope);
    }
    if (matched.operation.clientIdParameter) {
      const clientId = safeDecode(matched.parameters.at(-1) ?? '');
      if (clientId !== token.clientId) {
        throw new InvalidClient('the client in the path is not the client of the access token');
      }
    }
    return token;
  }

  /** Subscription check and business-plan limit; returns the endpoint for the token's key type. */
  function subscribe(current: Runtime, matched: Route, token: ValidatedToken): Endpoint | null {
    const { api } = matched;
    const application = current.applicationsByKey.get(
      applicationKeyOf(token.keyManager.name, token.clientId),
    );
    const subscription = application?.subscriptions.get(api.api.apiId);
    if (application && subscription) {
      const blocked =
        subscription.status === 'BLOCKED' ||
        (subscription.status === 'PROD_ONLY_BLOCKED' && application.keyType === 'PRODUCTION');
      if (blocked) throw new AccessDenied(`the subscription to ${api.api.name} is blocked`);
      const quota = current.plans.get(subscription.throttlingPolicy);
      if (quota) {
        const retryAfter = limiter.take(`${application.applicationId}:${api.api.apiId}`, quota);
        if (retryAfter) throw new TooManyRequests(retryAfter);
      }
      return application.keyType === 'SANDBOX' ? api.sandbox : api.production;
    }
    // Out-of-band provisioned clients (CDR DCR) reach the regulatory APIs without a subscription.
    if (token.keyManager.enableMapOAuthConsumerApps && current.regulatoryApis.has(api.api.name)) {
      return api.production;
    }
    throw new AccessDenied(`the client is not subscribed to ${api.api.name}`);
  }

  const port = await service.listen(ob.gateway.port, ob.bind_address);
  const url = ob.gateway.url || serviceUrl(ob.hostname, port);
  feed?.start(runtime ? `"${runtime.version}"` : undefined);
  logger.info(
    {
      url,
      management: serviceUrl(ob.hostname, service.managementPort),
      environment,
      snapshot: runtime?.version ?? null,
    },
    'gateway listening',
  );

  return {
    url,
    port,
    service,
    get snapshotVersion() {
      return runtime?.version;
    },
    get snapshot() {
      return runtime?.snapshot;
    },
    async setSnapshot(snapshot) {
      await apply(snapshot, true);
    },
    reportPlanUsage: () => limiter.report(),
    async close() {
      await feed?.stop();
      await limiter.close();
      await revocations.close();
      await service.close();
      await Promise.all([upstreams.close(), internalAgent.close(), persisting]);
      accessLog.close();
    },
  };
}

/** One usage report to api-manager over the gateway's internal connection (lib/gateway-feed/plan-usage.ts). */
async function reportPlanUsage(
  apiManagerUrl: string,
  dispatcher: Agent,
  report: PlanUsageReport,
): Promise<PlanUsageAnswer> {
  const response = await request(`${apiManagerUrl}${PLAN_USAGE_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(report),
    dispatcher,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`api-manager answered ${response.statusCode}`);
  return planUsageAnswerSchema.parse(JSON.parse(text));
}

interface AccessLog {
  api: string;
  clientId: string;
}

function bearerToken(headers: IncomingHttpHeaders, header: string): string {
  const authorization = headers[header];
  if (typeof authorization !== 'string' || !/^bearer /i.test(authorization)) {
    throw new InvalidToken('a Bearer access token is required');
  }
  return authorization.slice(7).trim();
}

function forwardHeaders(req: IncomingMessage, authorizationHeader: string | undefined): Headers {
  const headers: Headers = {};
  const inbound = req.headers;
  for (const name in inbound) {
    if (HOP_BY_HOP.has(name) || name === authorizationHeader) continue;
    headers[name] = inbound[name];
  }
  const forwardedFor = inbound['x-forwarded-for'];
  const address = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${address}` : address;
  headers['x-forwarded-proto'] = 'https';
  if (inbound.host) headers['x-forwarded-host'] = inbound.host;
  return headers;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** How long the rest of an oversized body is read and dropped after the 413, before the socket is cut. */
const OVERSIZED_BODY_LINGER_MS = 5000;

/**
 * The request body, up to `limit` bytes. Past it the answer is 413 while the rest is read and dropped
 * (node does that for an unread body): cutting the socket while the client still sends would reset the
 * connection and lose the 413 with it. A body that keeps coming is cut after a short linger.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > limit) return Promise.reject(new PayloadTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', collect);
      chunks.length = 0;
      req.resume();
      const linger = setTimeout(() => req.socket.destroy(), OVERSIZED_BODY_LINGER_MS);
      req.once('close', () => clearTimeout(linger));
      reject(new PayloadTooLarge(limit));
    };
    req.on('data', collect);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, headers: Headers, body: Buffer): number {
  if (res.headersSent || res.destroyed) return status;
  headers['content-length'] = String(body.length);
  res.writeHead(status, headers as Record<string, string | string[]>);
  res.end(body);
  return status;
}

function sendError(res: ServerResponse, error: unknown, logger: Logger): number {
  const rendered = renderError(error);
  if (rendered.status >= 500 && !(error instanceof OAuthError))
    logger.error({ err: error }, 'request failed');
  send(
    res,
    rendered.status,
    { ...rendered.headers, 'content-type': 'application/json' },
    Buffer.from(JSON.stringify(rendered.body)),
  );
  return rendered.status;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
