import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type Config, ConfigError, dataDirOf, serviceUrl } from '../../lib/config/index.ts';
import { ChangeNotifier } from '../../lib/gateway-feed/change-notifier.ts';
import type { ErrorShape } from '../../lib/http/errors.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { splitPemBundle } from '../../lib/pki/index.ts';
import { encryptionKeysOf, SecretBox } from '../../lib/secrets/index.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { BANKING_API_NAME, DCR_API_NAME } from '../../lib/wso2/management-api.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { registerAuthRoutes } from './auth/routes.ts';
import { createTokenService } from './auth/tokens.ts';
import type { ApiManagerContext } from './context.ts';
import { registerDevportalRoutes } from './devportal/routes.ts';
import { registerFeedRoutes, registerPlanUsageRoutes } from './feed/routes.ts';
import { migrations } from './migrations.ts';
import { registerPublisherRoutes } from './publisher/routes.ts';
import { encryptSecretsAtRest } from './secrets-at-rest.ts';

export interface ApiManagerOptions {
  /** Database schema (tests use a unique one per run on a shared PostgreSQL server). */
  schema?: string;
  /** Overrides `config.obkit.database.url`; empty string forces PGlite. */
  databaseUrl?: string;
  /** Overrides the PGlite data directory (default `dataDirOf(config, 'api_manager')`). */
  dataDir?: string;
}

export interface ApiManager {
  service: Service;
  db: Database;
  /** Encrypts signing keys and client secrets at rest (lib/secrets). */
  secrets: SecretBox;
  url: string;
  close(): Promise<void>;
}

/** DCR and the sandbox CDS Banking API (services/banking): a CDR client reaches them with its tokens alone. */
export const DEFAULT_REGULATORY_APIS = [DCR_API_NAME, BANKING_API_NAME];

/**
 * `[open_banking.gateway] regulatory_apis = ["CDRDynamicClientRegistrationAPI", ...]`: the APIs that
 * clients of a key manager with `enableMapOAuthConsumerApps` may call without a subscription.
 */
const regulatorySchema = z
  .object({ regulatory_apis: z.array(z.string().min(1)).default(DEFAULT_REGULATORY_APIS) })
  .prefault({});

/**
 * WSO2's REST APIs — publisher, admin, devportal and its client-registration — and the gateway feed
 * (built alike) answer `{code, message, description}`; the token endpoint answers the OAuth shape.
 */
export function errorShapeOf(path: string): ErrorShape {
  return path.startsWith('/oauth2/') ? 'oauth' : 'wso2';
}

export async function createApiManager(config: Config, options: ApiManagerOptions = {}): Promise<ApiManager> {
  const regulatory = regulatorySchema.safeParse((config.open_banking as Record<string, unknown>).gateway);
  if (!regulatory.success) {
    throw new ConfigError('open_banking.gateway.regulatory_apis', regulatory.error.issues[0]!.message);
  }
  const internalCas = splitPemBundle(readFileSync(config.obkit.tls.internal_ca, 'utf8')).map(
    (pem) => new X509Certificate(pem),
  );
  // Before the database opens: a missing or malformed key refuses the start with its setting named.
  const secrets = new SecretBox(encryptionKeysOf(config));
  const databaseUrl = options.databaseUrl ?? config.obkit.database.url;
  const db = await openDatabase({
    url: databaseUrl || undefined,
    dataDir: databaseUrl ? undefined : (options.dataDir ?? dataDirOf(config, 'api_manager')),
    schema: options.schema ?? 'api_manager',
    migrations,
    connectTimeoutMs: config.obkit.database.connect_timeout_seconds * 1000,
  });
  let url = config.obkit.api_manager.url;
  const service = apiManagerService(config, db);
  try {
    await encryptSecretsAtRest(db, secrets);
    const tokens = await createTokenService(db, secrets, () => `${url}/oauth2/token`);
    const outbound = outboundClientOf(config, service.logger);
    const context: ApiManagerContext = {
      config,
      db,
      secrets,
      tokens,
      outbound,
      changes: new ChangeNotifier(),
      url: () => url,
      stopping: service.stopping,
      regulatoryApis: regulatory.data.regulatory_apis,
    };
    await service.app.register(formbody);
    await service.app.register(multipart);
    registerAuthRoutes(service.app, context);
    await registerPublisherRoutes(service.app, context);
    await registerAdminRoutes(service.app, context);
    registerDevportalRoutes(service.app, context);
    registerFeedRoutes(service.app, context, internalCas);
    registerPlanUsageRoutes(service.app, context, internalCas);

    const port = await service.listen(config.obkit.api_manager.port, config.obkit.bind_address);
    if (!url) url = serviceUrl(config.obkit.hostname, port);
    service.logger.info(
      { url, management: serviceUrl(config.obkit.hostname, service.managementPort) },
      'api-manager listening',
    );
    return {
      service,
      db,
      secrets,
      url,
      async close() {
        await service.close();
        await outbound.close();
        await db.close();
      },
    };
  } catch (error) {
    await service.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}

function apiManagerService(config: Config, db: Database): Service {
  return createService({
    name: 'api-manager',
    logLevel: config.obkit.log_level,
    errorShape: errorShapeOf,
    bodyLimit: 4 * 1024 * 1024,
    shutdownGraceSeconds: config.obkit.shutdown_grace_seconds,
    tls: {
      certificate: config.obkit.tls.certificate,
      privateKey: config.obkit.tls.private_key,
      // Only the gateway presents a certificate (for the feed); management clients need none.
      clientCas: [config.obkit.tls.internal_ca],
      requestCert: true,
      rejectUnauthorized: false,
      strictServerKey: config.obkit.mode === 'production',
    },
    managementPort: config.obkit.api_manager.management_port,
    readiness: { database: () => db.ping() },
  });
}

/** Fetches of recipient-supplied URLs (definitions, key-manager discovery) under the outbound policy. */
function outboundClientOf(config: Config, logger: Logger): OutboundClient {
  const retriever = config.open_banking.dcr.jwks_retriever;
  const outboundCa = config.obkit.tls.outbound_ca
    ? readFileSync(config.obkit.tls.outbound_ca, 'utf8')
    : undefined;
  return new OutboundClient(
    {
      allowPrivateAddresses: config.obkit.allow_private_addresses,
      connectTimeoutMs: retriever.connection_timeout,
      readTimeoutMs: retriever.read_timeout,
      maxBytes: 1024 * 1024,
      extraCa: outboundCa,
    },
    logger,
  );
}
