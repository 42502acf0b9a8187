import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import type { FastifyInstance } from 'fastify';
import { type Config, dataDirOf, issuerOf, serviceUrl } from '../../lib/config/index.ts';
import type { ErrorShape } from '../../lib/http/errors.ts';
import { BANKING_COMMON_NAME } from '../../lib/http/forwarded-certificate.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { adminLockoutOf } from '../../lib/limits/admin-lockout.ts';
import { encryptionKeysOf, SecretBox } from '../../lib/secrets/index.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { DCR_MOUNT } from '../../lib/wso2/identity-server-paths.ts';
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
import { OAuthMount } from './oauth/mount.ts';
import { buildProvider } from './oauth/provider.ts';
import { ProviderLifecycle } from './oauth/provider-lifecycle.ts';
import { serverSecret } from './oauth/server-secrets.ts';
import { ensureSigningKeys, loadSigningKeys, pruneSigningKeys } from './oauth/signing-keys.ts';
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
  const keys = await loadSigningKeys(db, secrets);
  let mount: OAuthMount | undefined;

  const service = identityService(config, db, (req, res) => mount?.route(req, res) ?? false);
  // Closed after the service has drained (closers run in reverse): requests in flight still fetch.
  const outbound = outboundClientOf(config, service.logger);
  // The port is bound here rather than by fastify; the service's drain closes it.
  closers.push(
    () => outbound.close(),
    () => service.close(),
  );
  const logger = service.logger;
  mount = new OAuthMount(logger, service.metrics);
  const lifecycle = new ProviderLifecycle({ db, secrets, keys, mount, logger });

  const port = await bind(service.server, ob.identity_server.port, ob.bind_address);
  await service.listenManagement(ob.bind_address);
  const url = ob.identity_server.url || serviceUrl(ob.hostname, port);
  ob.identity_server.url = url;
  const issuer = issuerOf(config);

  const core = await coreParts(config, db, logger, url, lifecycle);
  const { certificates, revocations, callerLimits } = core;
  const cookieKeys = await startProvider(lifecycle, { config, url, db, secrets, outbound, logger }, core);

  const registerStatus = registerStatusOf(config, db, outbound, logger);
  if (ob.register_status.url) registerStatus.start();
  closers.push(() => registerStatus.stop());
  mount.ready({ publicHost: new URL(url).host, certificates, callerLimits, registerStatus });

  const dependencies = dcrDependencies(db, config, issuer, logger, outbound, core, registerStatus);

  const app = service.app;
  registerRoutes(app, {
    ...core,
    url,
    issuer,
    db,
    secrets,
    service,
    outbound,
    lifecycle,
    codeKey: cookieKeys[0]!,
    dependencies,
  });
  if (options.routes) await options.routes(app, dependencies);
  await app.ready();

  closers.push(
    startHousekeeping(db, lifecycle, revocations, callerLimits, options.keyRefreshMs ?? 60_000, logger),
  );
  logger.info(
    { url, issuer, management: serviceUrl(ob.hostname, service.managementPort) },
    'identity-server listening',
  );

  return {
    service,
    db,
    url,
    issuer,
    config,
    dependencies,
    secrets,
    reloadProvider: () => lifecycle.reload(),
    close,
  };
}

/** The stores, credentials and checks the surfaces share. */
async function coreParts(
  config: Config,
  db: Database,
  logger: Service['logger'],
  url: string,
  lifecycle: ProviderLifecycle,
) {
  const ob = config.obkit;
  const issuer = issuerOf(config);
  const certificates = new ClientCertificateResolver(ob.tls.internal_ca, logger);
  const clients = new ClientCache<ClientRow>();
  const revocations = new RevocationStore(db);
  const verifier = new AccessTokenVerifier(db, {
    issuer,
    audience: url,
    keys: () => lifecycle.keys,
    revocations,
  });
  const scopes = new ScopeStore(db, { onChange: () => lifecycle.refresh() });
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
  return {
    certificates,
    clients,
    revocations,
    verifier,
    scopes,
    adminCredential,
    gatewayCredential,
    callerLimits,
    arrangements,
  };
}

type CoreParts = Awaited<ReturnType<typeof coreParts>>;

function dcrDependencies(
  db: Database,
  config: Config,
  issuer: string,
  logger: Service['logger'],
  outbound: OutboundClient,
  core: CoreParts,
  registerStatus: RegisterStatus,
): DcrDependencies {
  const { certificates, gatewayCredential, callerLimits, verifier, revocations, scopes, clients } = core;
  return {
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
}

/** The first OAuth provider; returns the cookie keys (shared by replicas, kept across restarts). */
async function startProvider(
  lifecycle: ProviderLifecycle,
  base: {
    config: Config;
    url: string;
    db: Database;
    secrets: SecretBox;
    outbound: OutboundClient;
    logger: Service['logger'];
  },
  { certificates, verifier, clients, arrangements, scopes }: CoreParts,
): Promise<string[]> {
  const { db, secrets, url } = base;
  // A consent continues wherever the browser lands.
  const cookieKeys = [await serverSecret(db, secrets, 'consent-cookie-key')];
  const pairwiseSalt = await serverSecret(db, secrets, 'pairwise-subject-salt');
  await lifecycle.start(scopes, (keys, scopeNames) =>
    buildProvider({
      ...base,
      issuer: issuerOf(base.config),
      audience: url,
      keys,
      scopes: scopeNames,
      certificates,
      verifier,
      clients,
      arrangements,
      cookieKeys,
      pairwiseSalt,
    }),
  );
  return cookieKeys;
}

function registerStatusOf(
  config: Config,
  db: Database,
  outbound: OutboundClient,
  logger: Service['logger'],
): RegisterStatus {
  const ob = config.obkit;
  return new RegisterStatus({
    url: ob.register_status.url,
    industry: ob.register_status.industry,
    intervalSeconds: ob.register_status.interval_seconds,
    db,
    fetchJson: (target) => outbound.getJson(target),
    logger,
  });
}

interface RouteParts {
  url: string;
  issuer: string;
  db: Database;
  secrets: SecretBox;
  service: Service;
  outbound: OutboundClient;
  certificates: ClientCertificateResolver;
  revocations: RevocationStore;
  scopes: ScopeStore;
  arrangements: ArrangementStore;
  adminCredential: AdminCredential;
  lifecycle: ProviderLifecycle;
  /** Signs the consent pages' one-time codes (the first cookie key). */
  codeKey: string;
  dependencies: DcrDependencies;
}

/** Every surface besides `/oauth2`: DCR, key manager, revocation feed, scopes, arrangements, consent. */
function registerRoutes(app: FastifyInstance, parts: RouteParts): void {
  app.register(dcrRoutes(parts.dependencies), { prefix: DCR_MOUNT });
  app.register(keyManagerRoutes, {
    prefix: '/keymanager-operations/dcr',
    db: parts.db,
    secrets: parts.secrets,
    revocations: parts.revocations,
    adminCredential: parts.adminCredential,
  });
  app.register(revocationFeedRoutes, {
    revocations: parts.revocations,
    isGateway: (request) => parts.certificates.isGateway(request),
    stopping: parts.service.stopping,
  });
  app.register(scopeRoutes, {
    prefix: '/api/identity/oauth2/v1.0/scopes',
    scopes: parts.scopes,
    adminCredential: parts.adminCredential,
  });
  app.register(
    arrangementRevocationRoutes({
      db: parts.db,
      revocations: parts.revocations,
      fetchJson: (target) => parts.outbound.getJson(target),
      audiences: [parts.issuer, `${parts.url}${ARRANGEMENT_REVOCATION_PATH}`],
    }),
  );
  app.register(internalArrangementRoutes, {
    arrangements: parts.arrangements,
    isBanking: (request) => parts.certificates.isInternalClient(request.raw, BANKING_COMMON_NAME),
  });
  app.register(
    consentRoutes({
      provider: () => parts.lifecycle.provider,
      arrangements: parts.arrangements,
      codeKey: parts.codeKey,
      logger: parts.service.logger,
    }),
  );
  app.register(dashboardRoutes, {
    db: parts.db,
    arrangements: parts.arrangements,
    revocations: parts.revocations,
    notifier: new RecipientNotifier({
      db: parts.db,
      outbound: parts.outbound,
      issuer: parts.issuer,
      signingKeys: () => parts.lifecycle.keys.privateJwks.keys,
      logger: parts.service.logger,
    }),
    codeKey: parts.codeKey,
    logger: parts.service.logger,
  });
}

function identityService(
  config: Config,
  db: Database,
  preRoute: (req: IncomingMessage, res: ServerResponse) => boolean,
): Service {
  const ob = config.obkit;
  return createService({
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
    preRoute,
  });
}

/** Recipient JWKS, sector identifiers and Register fetches under the outbound policy. */
function outboundClientOf(config: Config, logger: Service['logger']): OutboundClient {
  const ob = config.obkit;
  return new OutboundClient(
    {
      allowPrivateAddresses: ob.allow_private_addresses,
      connectTimeoutMs: config.open_banking.dcr.jwks_retriever.connection_timeout,
      readTimeoutMs: config.open_banking.dcr.jwks_retriever.read_timeout,
      maxBytes: config.open_banking.dcr.jwks_retriever.size_limit,
      extraCa: ob.tls.outbound_ca ? readFileSync(ob.tls.outbound_ca, 'utf8') : undefined,
    },
    logger,
  );
}

/** Provider reloads (keys and scopes changed elsewhere) and pruning of expired state; returns the stop. */
function startHousekeeping(
  db: Database,
  lifecycle: ProviderLifecycle,
  revocations: RevocationStore,
  callerLimits: CallerLimits,
  refreshMs: number,
  logger: Service['logger'],
): () => void {
  const refresh = setInterval(() => lifecycle.refresh(), refreshMs);
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
  return () => {
    clearInterval(refresh);
    clearInterval(prune);
  };
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
