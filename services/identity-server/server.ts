import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';
import { Counter } from 'prom-client';
import { type Config, dataDirOf, issuerOf, serviceUrl } from '../../lib/config/index.ts';
import { type ErrorShape, logServerError, renderError } from '../../lib/http/errors.ts';
import { BANKING_COMMON_NAME } from '../../lib/http/forwarded-certificate.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { adminLockoutOf } from '../../lib/limits/admin-lockout.ts';
import { encryptionKeysOf, SecretBox } from '../../lib/secrets/index.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { AdminCredential } from './admin/credential.ts';
import { internalArrangementRoutes } from './arrangements/internal-routes.ts';
import { RecipientNotifier } from './arrangements/notify-recipient.ts';
import {
  ARRANGEMENT_REVOCATION_PATH,
  arrangementRevocationRoutes,
} from './arrangements/revocation-routes.ts';
import { ArrangementStore } from './arrangements/store.ts';
import { dashboardRoutes } from './consent/dashboard-routes.ts';
import { consentRoutes } from './consent/routes.ts';
import type { DcrDependencies } from './dcr/dependencies.ts';
import { dcrRoutes } from './dcr/index.ts';
import { pruneExpiredJtis } from './dcr/replay-cache.ts';
import { keyManagerRoutes } from './keymanager/routes.ts';
import { CallerLimits } from './limits/caller-limits.ts';
import { migrations } from './migrations.ts';
import { AccessTokenVerifier } from './oauth/access-tokens.ts';
import { type ClientRow, pruneExpiredPayloads } from './oauth/adapter.ts';
import { ClientCache } from './oauth/client-cache.ts';
import { ClientCertificateResolver } from './oauth/client-certificate.ts';
import { buildProvider, OAUTH_MOUNT, OAUTH_ROUTES } from './oauth/provider.ts';
import { serverSecret } from './oauth/server-secrets.ts';
import {
  ensureSigningKeys,
  loadSigningKeys,
  pruneSigningKeys,
  type SigningKeySet,
} from './oauth/signing-keys.ts';
import { refuseInactiveClient } from './register-status/oauth-gate.ts';
import { RegisterStatus } from './register-status/register-status.ts';
import { revocationFeedRoutes } from './revocation/feed-routes.ts';
import { RevocationStore } from './revocation/store.ts';
import { scopeRoutes } from './scopes/routes.ts';
import { ScopeStore } from './scopes/store.ts';
import { encryptSecretsAtRest } from './secrets-at-rest.ts';

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
  /** Encrypts signing keys and client secrets at rest (lib/secrets). */
  secrets: SecretBox;
  /** Re-reads signing keys and scopes now (e.g. after `rotateSigningKey`); rebuilds the provider if they changed. */
  reloadProvider(): Promise<void>;
  close(): Promise<void>;
}

/** WSO2 IS's REST APIs (`/api/identity/…`, the scope API) answer `{code, message, description}`; the rest OAuth's. */
export function errorShapeOf(path: string): ErrorShape {
  return path.startsWith('/api/identity/') ? 'wso2' : 'oauth';
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
  // Before the database opens: a missing or malformed key refuses the start with its setting named.
  const secrets = new SecretBox(encryptionKeysOf(config));
  const db = await openDatabase({
    url: ob.database.url || undefined,
    dataDir: ob.database.url ? undefined : dataDirOf(config, 'identity_server'),
    schema: options.schema ?? 'identity_server',
    migrations,
    connectTimeoutMs: ob.database.connect_timeout_seconds * 1000,
  });
  const closers: Array<() => Promise<void> | void> = [() => db.close()];
  // Once, however often it is called (a signal and the supervisor's pipe may both ask).
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const closer of closers.reverse()) await closer();
    })();
    return closing;
  };
  try {
    return await start(config, db, secrets, options, closers, close);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

async function start(
  config: Config,
  db: Database,
  secrets: SecretBox,
  options: IdentityServerOptions,
  closers: Array<() => Promise<void> | void>,
  close: () => Promise<void>,
): Promise<IdentityServer> {
  const ob = config.obkit;
  await encryptSecretsAtRest(db, secrets);
  await ensureSigningKeys(db, secrets);
  let keys: SigningKeySet = await loadSigningKeys(db, secrets);
  let handleOAuth: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  const service = createService({
    name: 'identity-server',
    logLevel: ob.log_level,
    errorShape: errorShapeOf,
    tls: {
      certificate: ob.tls.certificate,
      privateKey: ob.tls.private_key,
      clientCas: [ob.tls.truststore, ob.tls.internal_ca],
      requestCert: true,
      rejectUnauthorized: false,
      strictServerKey: ob.mode === 'production',
    },
    managementPort: ob.identity_server.management_port,
    readiness: { database: () => db.ping() },
    shutdownGraceSeconds: ob.shutdown_grace_seconds,
    preRoute: (req, res) => routeOAuth(req, res),
  });
  // Closed after the service has drained (closers run in reverse): requests in flight still fetch.
  const outbound = new OutboundClient(
    {
      allowPrivateAddresses: ob.allow_private_addresses,
      connectTimeoutMs: config.open_banking.dcr.jwks_retriever.connection_timeout,
      readTimeoutMs: config.open_banking.dcr.jwks_retriever.read_timeout,
      maxBytes: config.open_banking.dcr.jwks_retriever.size_limit,
      extraCa: ob.tls.outbound_ca ? readFileSync(ob.tls.outbound_ca, 'utf8') : undefined,
    },
    service.logger,
  );
  closers.push(() => outbound.close());
  // The port is bound here rather than by fastify; the service's drain closes it.
  closers.push(() => service.close());
  const logger = service.logger;
  const oauthRequests = new Counter({
    name: 'obkit_oauth_requests_total',
    help: 'OAuth endpoint requests (/oauth2/*) by endpoint and status',
    labelNames: ['endpoint', 'status'],
    registers: [service.metrics],
  });

  const port = await bind(service.server, ob.identity_server.port, ob.bind_address);
  await service.listenManagement(ob.bind_address);
  const url = ob.identity_server.url || serviceUrl(ob.hostname, port);
  ob.identity_server.url = url;
  const issuer = issuerOf(config);
  const publicHost = new URL(url).host;

  const certificates = new ClientCertificateResolver(ob.tls.internal_ca, logger);
  const clients = new ClientCache<ClientRow>();
  const revocations = new RevocationStore(db);
  const verifier = new AccessTokenVerifier(db, { issuer, audience: url, keys: () => keys, revocations });
  const scopes = new ScopeStore(db, { onChange: () => refreshProvider() });
  let scopeNames = await scopes.reload();
  const adminCredential = new AdminCredential(
    ob.admin.username,
    ob.admin.password,
    adminLockoutOf(db, config, logger),
  );
  const gatewayCredential = new AdminCredential(
    ob.dcr_backend.username,
    ob.dcr_backend.password,
    // Its own account: guessed names (counted against one shared key) cannot lock the gateway out.
    adminLockoutOf(db, config, logger, ob.dcr_backend.username),
  );
  const callerLimits = new CallerLimits(db, ob.limits, certificates);
  const arrangements = new ArrangementStore(db);
  // Shared by replicas and kept across restarts: a consent continues wherever the browser lands.
  const cookieKeys = [await serverSecret(db, secrets, 'consent-cookie-key')];
  const pairwiseSalt = await serverSecret(db, secrets, 'pairwise-subject-salt');

  const newProvider = (): Provider =>
    buildProvider({
      config,
      url,
      issuer,
      audience: url,
      db,
      secrets,
      keys,
      scopes: scopeNames,
      certificates,
      verifier,
      clients,
      outbound,
      arrangements,
      cookieKeys,
      pairwiseSalt,
      logger,
    });
  let provider = newProvider();
  handleOAuth = provider.callback();

  /**
   * Keys and scopes are fixed in a provider instance: when either changed (a rotation, a new scope, here
   * or on another replica) a new provider takes over; requests in flight finish on the old one.
   */
  const reloadProvider = async () => {
    const [freshKeys, freshScopes] = await Promise.all([loadSigningKeys(db, secrets, keys), scopes.reload()]);
    const scopesChanged = [...freshScopes].sort().join(' ') !== [...scopeNames].sort().join(' ');
    if (freshKeys.fingerprint === keys.fingerprint && !scopesChanged) return;
    keys = freshKeys;
    scopeNames = freshScopes;
    provider = newProvider();
    handleOAuth = provider.callback();
    logger.info({ kids: keys.publicJwks.keys.map((key) => key.kid) }, 'OAuth provider reloaded');
  };
  function refreshProvider(): Promise<void> {
    return reloadProvider().catch((error) => logger.error({ err: error }, 'OAuth provider reload failed'));
  }

  const registerStatus = new RegisterStatus({
    url: ob.register_status.url,
    industry: ob.register_status.industry,
    intervalSeconds: ob.register_status.interval_seconds,
    db,
    fetchJson: (target) => outbound.getJson(target),
    logger,
  });
  if (ob.register_status.url) registerStatus.start();
  closers.push(() => registerStatus.stop());

  const dependencies: DcrDependencies = {
    db,
    config,
    issuer,
    logger,
    outbound,
    clientCertificate: (request) => certificates.certificateOf(request.raw),
    isGatewayConnection: (request) => certificates.isGateway(request.raw),
    // The gateway's own credential, not the admin's: the admin password opens no registration.
    isGatewayCredential: (authorization) => gatewayCredential.verify(authorization),
    callerLimits,
    verifyAccessToken: (token) => verifier.verify(token),
    revocations,
    scopes,
    registerStatus,
    clientChanged: (clientId) => clients.evict(clientId),
  };

  const app = service.app;
  app.register(dcrRoutes(dependencies), { prefix: '/api/openbanking/dynamic-client-registration' });
  app.register(keyManagerRoutes, {
    prefix: '/keymanager-operations/dcr',
    db,
    secrets,
    revocations,
    adminCredential,
  });
  app.register(revocationFeedRoutes, {
    revocations,
    isGateway: (request) => certificates.isGateway(request),
    stopping: service.stopping,
  });
  app.register(scopeRoutes, { prefix: '/api/identity/oauth2/v1.0/scopes', scopes, adminCredential });
  app.register(
    arrangementRevocationRoutes({
      db,
      revocations,
      fetchJson: (target) => outbound.getJson(target),
      audiences: [issuer, `${url}${ARRANGEMENT_REVOCATION_PATH}`],
    }),
  );
  app.register(internalArrangementRoutes, {
    arrangements,
    isBanking: (request) => certificates.isInternalClient(request.raw, BANKING_COMMON_NAME),
  });
  app.register(
    consentRoutes({
      provider: () => provider,
      arrangements,
      codeKey: cookieKeys[0]!,
      logger,
    }),
  );
  app.register(dashboardRoutes, {
    db,
    arrangements,
    revocations,
    notifier: new RecipientNotifier({
      db,
      outbound,
      issuer,
      signingKeys: () => keys.privateJwks.keys,
      logger,
    }),
    codeKey: cookieKeys[0]!,
    logger,
  });
  if (options.routes) await options.routes(app, dependencies);
  await app.ready();

  const refresh = setInterval(refreshProvider, options.keyRefreshMs ?? 60_000);
  const prune = setInterval(() => {
    Promise.all([
      pruneExpiredPayloads(db),
      pruneSigningKeys(db),
      pruneExpiredJtis(db),
      revocations.prune(),
      callerLimits.prune(),
    ]).catch((error) => logger.error({ err: error }, 'pruning expired OAuth state failed'));
  }, PRUNE_INTERVAL_MS);
  refresh.unref();
  prune.unref();
  closers.push(() => {
    clearInterval(refresh);
    clearInterval(prune);
  });
  logger.info(
    { url, issuer, management: serviceUrl(ob.hostname, service.managementPort) },
    'identity-server listening',
  );

  return { service, db, url, issuer, config, dependencies, secrets, reloadProvider, close };

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
    if (
      path === `${OAUTH_MOUNT}${OAUTH_ROUTES.authorization}` &&
      req.method !== 'GET' &&
      req.method !== 'HEAD'
    ) {
      // A pushed request_uri is redeemed once from the query (request-uri-redemption.ts); a form body
      // would go round that.
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, 'invalid_request', `${req.method} is not allowed here; allowed: GET, HEAD`);
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
    if (
      path === `${OAUTH_MOUNT}${OAUTH_ROUTES.pushed_authorization_request}` &&
      !certificates.certificateOf(req)
    ) {
      // CDS: pushed authorisation requests come over mutual TLS, like the token endpoint's.
      return reply(res, 401, 'invalid_client', 'pushed authorization requests need a client certificate');
    }
    const isToken = path === `${OAUTH_MOUNT}${OAUTH_ROUTES.token}`;
    if (
      (isToken || path === `${OAUTH_MOUNT}${OAUTH_ROUTES.pushed_authorization_request}`) &&
      req.method === 'POST'
    ) {
      // Counted before the provider reads the body; the body waits in the socket meanwhile. Then a
      // client the Register no longer lists as ACTIVE is refused.
      (isToken ? callerLimits.token(req) : Promise.resolve())
        .then(() => refuseInactiveClient(req, registerStatus))
        .then(
          () => handleOAuth?.(req, res),
          (error: unknown) => replyWith(res, error, logger),
        );
      return true;
    }
    handleOAuth(req, res);
    return true;
  }
}

/** An error met before the provider took the request (a limit, an unreachable database), as JSON. */
function replyWith(res: ServerResponse, error: unknown, logger: Service['logger']): void {
  const rendered = renderError(error, 'oauth');
  logServerError(logger, error, rendered.status);
  res.writeHead(rendered.status, {
    ...rendered.headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(JSON.stringify(rendered.body));
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
