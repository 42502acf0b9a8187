import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { type Config, serviceUrl } from '../../lib/config/index.ts';
import type { GatewaySnapshot } from '../../lib/gateway-feed/snapshot.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { createAccessLog } from './access-log.ts';
import { inspectClientCertificate } from './client-certificate.ts';
import { SnapshotFeed } from './feed.ts';
import { type InternalConnections, internalConnections, reportPlanUsage } from './internal-connections.ts';
import { createPipeline } from './pipeline.ts';
import { PlanLimits } from './rate-limit.ts';
import { RequestMetrics } from './request-metrics.ts';
import { Revocations } from './revocations.ts';
import { ServedSnapshot } from './served-snapshot.ts';
import { TokenValidator } from './tokens.ts';
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

/**
 * The data plane: terminates mutual TLS against the recipients' truststore, routes to deployed API
 * revisions, authorises with the enabled key managers, runs the attached mediation and proxies to the
 * backend over internal mutual TLS (the steps: pipeline.ts). It holds no state of its own beyond the
 * last good snapshot.
 */
export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const ob = config.obkit;
  const environment = options.environment ?? 'Default';
  const keyManagerTimeoutMs = options.keyManagerTimeoutMs ?? 5000;
  const internal = internalConnections(ob, keyManagerTimeoutMs);
  let served: ServedSnapshot | undefined;
  let handle: ReturnType<typeof createPipeline> | undefined;
  const service = createGatewayService(
    ob,
    options,
    () => served,
    (req, res) => void handle?.(req, res),
  );
  const { logger } = service;

  const upstreams = upstreamsOf(internal, options.upstream);
  const revocations = new Revocations(internal.agent, logger);
  const tokens = new TokenValidator(internal.agent, keyManagerTimeoutMs, revocations);
  const limiter = planLimits(ob, options, internal.agent, logger);
  const vault = new SecretVault(ob.vault_dir, logger);
  const snapshot = new ServedSnapshot({
    file: join(ob.state_dir, 'gateway', 'snapshot.json'),
    environment,
    tokens,
    revocations,
    vault,
    reloadTls: () => service.reloadTls(),
    logger,
  });
  served = snapshot;
  await snapshot.loadFromDisk();
  const feed =
    (options.feed ?? 'api-manager') === 'api-manager'
      ? snapshotFeed(ob, options, internal.agent, snapshot, logger)
      : undefined;
  const accessLog = createAccessLog(options.logLevel ?? ob.log_level);
  handle = createPipeline({
    runtime: () => snapshot.runtime,
    tokens,
    limiter,
    vault,
    upstreams,
    maxRequestBytes: options.maxRequestBytes ?? 1_048_576,
    logger,
    metrics: new RequestMetrics(service.metrics),
    accessLog,
  });

  const { port, url } = await listen(service, ob, environment, snapshot.runtime?.version);
  feed?.start(snapshot.runtime ? `"${snapshot.runtime.version}"` : undefined);

  return {
    url,
    port,
    service,
    get snapshotVersion() {
      return snapshot.runtime?.version;
    },
    get snapshot() {
      return snapshot.runtime?.snapshot;
    },
    async setSnapshot(next) {
      await snapshot.apply(next, true);
    },
    reportPlanUsage: () => limiter.report(),
    async close() {
      await feed?.stop();
      await limiter.close();
      await revocations.close();
      await service.close();
      await Promise.all([upstreams.close(), internal.agent.close(), snapshot.settled()]);
      accessLog.close();
    },
  };
}

/** The gateway's listener: mutual TLS against the truststore file plus the snapshot's bundle. */
function createGatewayService(
  ob: Config['obkit'],
  options: GatewayOptions,
  served: () => ServedSnapshot | undefined,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Service {
  const service = createService({
    name: 'gateway',
    logLevel: options.logLevel ?? ob.log_level,
    tls: {
      certificate: ob.tls.certificate,
      privateKey: ob.tls.private_key,
      clientCas: [ob.tls.truststore],
      clientCaPems: () => {
        const truststorePem = served()?.runtime?.snapshot.truststorePem;
        return truststorePem ? [truststorePem] : [];
      },
      requestCert: true,
      // A connection without a certificate is answered (401 invalid_client), not cut at the handshake.
      rejectUnauthorized: false,
      strictServerKey: ob.mode === 'production',
    },
    shutdownGraceSeconds: ob.shutdown_grace_seconds,
    managementPort: ob.gateway.management_port,
    readiness: {
      snapshot: () => {
        if (!served()?.runtime) throw new Error('no gateway snapshot loaded yet');
      },
    },
    // Every request on the public port is an API call; health and metrics live on the management port.
    preRoute: (req, res) => {
      handle(req, res);
      return true;
    },
  });
  // A presented certificate that fails verification ends the connection, as a handshake refusal would.
  service.server.on('secureConnection', (socket: TLSSocket) => {
    const verdict = inspectClientCertificate(socket);
    if (verdict.kind === 'refused') {
      service.logger.info(
        { reason: verdict.reason },
        'refused a connection: its client certificate breaks the client-certificate rules',
      );
      socket.destroy();
    }
  });
  return service;
}

/** api-manager's snapshot feed (long poll), each new snapshot served and kept on disk. */
function snapshotFeed(
  ob: Config['obkit'],
  options: GatewayOptions,
  dispatcher: Agent,
  snapshot: ServedSnapshot,
  logger: Logger,
): SnapshotFeed {
  return new SnapshotFeed({
    apiManagerUrl: ob.api_manager.url,
    dispatcher,
    waitSeconds: options.feedWaitSeconds ?? 30,
    retryMs: options.feedRetryMs ?? 1000,
    maxRetryMs: 15_000,
    startupRetryMs: Math.min(250, options.feedRetryMs ?? 250),
    logger,
    onSnapshot: (next: GatewaySnapshot) => {
      try {
        void snapshot.apply(next, true);
      } catch (error) {
        logger.error({ err: error }, 'could not compile the snapshot; serving the previous one');
      }
    },
  });
}

/** One connection pool per backend origin, over the internal mutual TLS. */
function upstreamsOf(internal: InternalConnections, options: GatewayOptions['upstream']): Upstreams {
  return new Upstreams({
    tls: internal.tls,
    connectTimeoutMs: options?.connectTimeoutMs ?? 5000,
    headersTimeoutMs: options?.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options?.bodyTimeoutMs ?? 30_000,
    maxResponseBytes: options?.maxResponseBytes ?? 10_485_760,
    connections: options?.connections ?? 128,
  });
}

/** Business-plan counts, shared with the other replicas through api-manager unless kept local. */
function planLimits(
  ob: Config['obkit'],
  options: GatewayOptions,
  dispatcher: Agent,
  logger: Logger,
): PlanLimits {
  const share =
    (options.planUsage ?? (options.feed === 'manual' ? 'local' : 'api-manager')) === 'api-manager';
  return new PlanLimits({
    intervalMs: ob.limits.plan_sync_interval_ms,
    logger,
    ...(share ? { report: (report) => reportPlanUsage(ob.api_manager.url, dispatcher, report) } : {}),
  });
}

async function listen(
  service: Service,
  ob: Config['obkit'],
  environment: string,
  snapshotVersion: string | undefined,
): Promise<{ port: number; url: string }> {
  const port = await service.listen(ob.gateway.port, ob.bind_address);
  const url = ob.gateway.url || serviceUrl(ob.hostname, port);
  service.logger.info(
    {
      url,
      management: serviceUrl(ob.hostname, service.managementPort),
      environment,
      snapshot: snapshotVersion ?? null,
    },
    'gateway listening',
  );
  return { port, url };
}
