import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';
import { Counter } from 'prom-client';
import { type Config, dataDirOf, issuerOf, serviceUrl } from '../../lib/config/index.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { adminCredentialChecker } from './admin/credential.ts';
import type { DcrDependencies } from './dcr/dependencies.ts';
import { dcrRoutes } from './dcr/index.ts';
import { pruneExpiredJtis } from './dcr/replay-cache.ts';
import { keyManagerRoutes } from './keymanager/routes.ts';
import { migrations } from './migrations.ts';
import { AccessTokenVerifier } from './oauth/access-tokens.ts';
import { type ClientRow, pruneExpiredPayloads } from './oauth/adapter.ts';
import { ClientCache } from './oauth/client-cache.ts';
import { ClientCertificateResolver } from './oauth/client-certificate.ts';
import { buildProvider, OAUTH_MOUNT, OAUTH_ROUTES } from './oauth/provider.ts';
import {
  ensureSigningKeys,
  loadSigningKeys,
  pruneSigningKeys,
  type SigningKeySet,
} from './oauth/signing-keys.ts';
import { scopeRoutes } from './scopes/routes.ts';
import { ScopeStore } from './scopes/store.ts';

export interface IdentityServerOptions {
  /** Database schema; tests give each run its own on a shared PostgreSQL server. */
  schema?: string;
  /** Extra routes mounted with the server's dependencies (tests, later features). */
  routes?: (app: FastifyInstance, deps: DcrDependencies) => void | Promise<void>;
  /** How often signing keys and scopes are re-read, so changes made through another replica apply (ms). */
  keyRefreshMs?: number;
}

export interface IdentityServer {
  service: Service;
  db: Database;
  /** Public base URL (with the bound port when configured as port 0). */
  url: string;
  issuer: string;
  /** The configuration, with `obkit.identity_server.url` set to `url`. */
  config: Config;
  /** What the DCR endpoint is given: certificate, admin credential and access-token checks. */
  dependencies: DcrDependencies;
  /** Re-reads signing keys and scopes now (e.g. after `rotateSigningKey`); rebuilds the provider if they changed. */
  reloadProvider(): Promise<void>;
  close(): Promise<void>;
}

const DISCOVERY_PATH = `${OAUTH_MOUNT}/token/.well-known/openid-configuration`;
const PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * The identity server: oidc-provider mounted under `/oauth2` (WSO2 IS's paths), the CDR DCR endpoint,
 * the key-manager and scope APIs, on one HTTPS port that asks for (but does not require) a client
 * certificate, trusting the recipients' truststore and the internal CA.
 *
 * Port 0 (tests): the port is bound before any route is loaded, so the URL — and with it the issuer the
 * DCR endpoint checks as `aud` — is known to every part from the start.
 */
export async function createIdentityServer(
  config: Config,
  options: IdentityServerOptions = {},
): Promise<IdentityServer> {
  const ob = config.obkit;
  const db = await openDatabase({
    url: ob.database.url || undefined,
    dataDir: ob.database.url ? undefined : dataDirOf(config, 'identity_server'),
    schema: options.schema ?? 'identity_server',
    migrations,
  });
  const closers: Array<() => Promise<void> | void> = [() => db.close()];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    return await start(config, db, options, closers, close);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

async function start(
  config: Config,
  db: Database,
  options: IdentityServerOptions,
  closers: Array<() => Promise<void> | void>,
  close: () => Promise<void>,
): Promise<IdentityServer> {
  const ob = config.obkit;
  await ensureSigningKeys(db);
  let keys: SigningKeySet = await loadSigningKeys(db);
  let handleOAuth: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  const service = createService({
    name: 'identity-server',
    logLevel: ob.log_level,
    errorShape: 'oauth',
    tls: {
      certificate: ob.tls.certificate,
      privateKey: ob.tls.private_key,
      clientCas: [ob.tls.truststore, ob.tls.internal_ca],
      requestCert: true,
      rejectUnauthorized: false,
    },
    readiness: { database: () => db.ping() },
    preRoute: (req, res) => routeOAuth(req, res),
  });
  closers.push(async () => {
    await service.close();
    // The port was bound here rather than by fastify, so fastify leaves closing it to us.
    await new Promise<void>((resolve) => service.server.close(() => resolve()));
  });
  const logger = service.logger;
  const oauthRequests = new Counter({
    name: 'oauth_requests_total',
    help: 'OAuth endpoint requests (/oauth2/*) by endpoint and status',
    labelNames: ['endpoint', 'status'],
    registers: [service.metrics],
  });

  const port = await bind(service.server, ob.identity_server.port, ob.bind_address);
  const url = ob.identity_server.url || serviceUrl(ob.hostname, port);
  ob.identity_server.url = url;
  const issuer = issuerOf(config);
  const publicHost = new URL(url).host;

  const outbound = new OutboundClient({
    allowPrivateAddresses: ob.allow_private_addresses,
    connectTimeoutMs: config.open_banking.dcr.jwks_retriever.connection_timeout,
    readTimeoutMs: config.open_banking.dcr.jwks_retriever.read_timeout,
    maxBytes: config.open_banking.dcr.jwks_retriever.size_limit,
    extraCa: ob.tls.outbound_ca ? readFileSync(ob.tls.outbound_ca, 'utf8') : undefined,
  });
  closers.push(() => outbound.close());
  const certificates = new ClientCertificateResolver(ob.tls.internal_ca, logger);
  const clients = new ClientCache<ClientRow>();
  const verifier = new AccessTokenVerifier(db, { issuer, audience: url, keys: () => keys });
  let scopeNames = await new ScopeStore(db).names();
  const scopes = new ScopeStore(db, { onChange: () => refreshProvider() });
  const isAdminCredential = adminCredentialChecker(ob.admin.username, ob.admin.password);

  const newProvider = (): Provider =>
    buildProvider({
      config,
      url,
      issuer,
      audience: url,
      db,
      keys,
      scopes: scopeNames,
      certificates,
      verifier,
      clients,
      outbound,
      logger,
    });
  handleOAuth = newProvider().callback();

  /**
   * Keys and scopes are fixed in a provider instance: when either changed (a rotation, a new scope, here
   * or on another replica) a new provider takes over; requests in flight finish on the old one.
   */
  const reloadProvider = async () => {
    const [freshKeys, freshScopes] = await Promise.all([loadSigningKeys(db), new ScopeStore(db).names()]);
    const scopesChanged = [...freshScopes].sort().join(' ') !== [...scopeNames].sort().join(' ');
    if (freshKeys.fingerprint === keys.fingerprint && !scopesChanged) return;
    keys = freshKeys;
    scopeNames = freshScopes;
    handleOAuth = newProvider().callback();
    logger.info({ kids: keys.publicJwks.keys.map((key) => key.kid) }, 'OAuth provider reloaded');
  };
  function refreshProvider(): Promise<void> {
    return reloadProvider().catch((error) => logger.error({ err: error }, 'OAuth provider reload failed'));
  }

  const dependencies: DcrDependencies = {
    db,
    config,
    issuer,
    logger,
    outbound,
    clientCertificate: (request) => certificates.certificateOf(request.raw),
    isAdminCredential,
    verifyAccessToken: (token) => verifier.verify(token),
    clientChanged: (clientId) => clients.evict(clientId),
  };

  const app = service.app;
  app.register(dcrRoutes(dependencies), { prefix: '/api/openbanking/dynamic-client-registration' });
  app.register(keyManagerRoutes, { prefix: '/keymanager-operations/dcr', db, isAdminCredential });
  app.register(scopeRoutes, { prefix: '/api/identity/oauth2/v1.0/scopes', scopes, isAdminCredential });
  if (options.routes) await options.routes(app, dependencies);
  await app.ready();

  const refresh = setInterval(refreshProvider, options.keyRefreshMs ?? 60_000);
  const prune = setInterval(() => {
    Promise.all([pruneExpiredPayloads(db), pruneSigningKeys(db), pruneExpiredJtis(db)]).catch((error) =>
      logger.error({ err: error }, 'pruning expired OAuth state failed'),
    );
  }, PRUNE_INTERVAL_MS);
  refresh.unref();
  prune.unref();
  closers.push(() => {
    clearInterval(refresh);
    clearInterval(prune);
  });
  logger.info({ url, issuer }, 'identity-server listening');

  return { service, db, url, issuer, config, dependencies, reloadProvider, close };

  /** `/oauth2/*` goes to oidc-provider (a Koa app) with the mount prefix stripped, as `app.use('/oauth2')` would. */
  function routeOAuth(req: IncomingMessage, res: ServerResponse): boolean {
    const requestUrl = req.url ?? '/';
    const path = requestUrl.split('?')[0]!;
    if (path !== OAUTH_MOUNT && !path.startsWith(`${OAUTH_MOUNT}/`)) return false;
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      oauthRequests.inc({ endpoint: endpointLabel(path), status: res.statusCode });
      logger.info(
        {
          method: req.method,
          url: path,
          status: res.statusCode,
          ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
        },
        'request',
      );
    });
    if (!handleOAuth) return reply(res, 503, 'temporarily_unavailable', 'the server is starting');
    if (path === `${OAUTH_MOUNT}${OAUTH_ROUTES.authorization}`) {
      // Authorization code flow, PAR and consent come with a later issue; nothing half-built answers here.
      return reply(res, 400, 'unsupported_response_type', 'the authorization endpoint is not available yet');
    }
    const query = requestUrl.slice(path.length);
    const routed = req as IncomingMessage & { originalUrl?: string };
    if (path === DISCOVERY_PATH) {
      // WSO2 publishes discovery under the issuer (…/oauth2/token/.well-known/…); the provider under its mount.
      routed.url = `/.well-known/openid-configuration${query}`;
      routed.originalUrl = `${OAUTH_MOUNT}/.well-known/openid-configuration${query}`;
    } else {
      routed.originalUrl = requestUrl;
      routed.url = requestUrl.slice(OAUTH_MOUNT.length) || '/';
    }
    // Endpoint URLs (discovery, client-assertion audiences) derive from the configured URL, not from
    // whatever Host a caller or an intermediary sent.
    req.headers.host = publicHost;
    handleOAuth(req, res);
    return true;
  }
}

function reply(res: ServerResponse, status: number, error: string, description: string): true {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error, error_description: description }));
  return true;
}

/** Bounded metric labels: the known endpoints, everything else as "other". */
function endpointLabel(path: string): string {
  if (path === DISCOVERY_PATH) return 'discovery';
  const route = path.slice(OAUTH_MOUNT.length);
  const known = Object.entries(OAUTH_ROUTES).find(([, value]) => value === route);
  return known ? known[0] : 'other';
}

function bind(server: https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
