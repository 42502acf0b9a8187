import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import { type Config, ConfigError, dataDirOf, serviceUrl } from '../../lib/config/index.ts';
import { OutboundClient } from '../../lib/http/outbound.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { splitPemBundle } from '../../lib/pki/index.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { registerAuthRoutes } from './auth/routes.ts';
import { createTokenService } from './auth/tokens.ts';
import { ChangeNotifier } from './changes.ts';
import type { ApiManagerContext } from './context.ts';
import { registerDevportalRoutes } from './devportal/routes.ts';
import { registerFeedRoutes } from './feed/routes.ts';
import { migrations } from './migrations.ts';
import { registerPublisherRoutes } from './publisher/routes.ts';
import { openSecretBox } from './secrets.ts';

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
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_REGULATORY_APIS = ['CDRDynamicClientRegistrationAPI'];

/**
 * `[open_banking.gateway] regulatory_apis = ["CDRDynamicClientRegistrationAPI", ...]`: the APIs that
 * clients of a key manager with `enableMapOAuthConsumerApps` may call without a subscription.
 */
const regulatorySchema = z
  .object({ regulatory_apis: z.array(z.string().min(1)).default(DEFAULT_REGULATORY_APIS) })
  .prefault({});

export async function createApiManager(config: Config, options: ApiManagerOptions = {}): Promise<ApiManager> {
  const regulatory = regulatorySchema.safeParse((config.open_banking as Record<string, unknown>).gateway);
  if (!regulatory.success) {
    throw new ConfigError('open_banking.gateway.regulatory_apis', regulatory.error.issues[0]!.message);
  }
  const internalCas = splitPemBundle(readFileSync(config.obkit.tls.internal_ca, 'utf8')).map(
    (pem) => new X509Certificate(pem),
  );
  const databaseUrl = options.databaseUrl ?? config.obkit.database.url;
  const db = await openDatabase({
    url: databaseUrl || undefined,
    dataDir: databaseUrl ? undefined : (options.dataDir ?? dataDirOf(config, 'api_manager')),
    schema: options.schema ?? 'api_manager',
    migrations,
  });
  let url = config.obkit.api_manager.url;
  const service = createService({
    name: 'api-manager',
    logLevel: config.obkit.log_level,
    errorShape: 'wso2',
    bodyLimit: 4 * 1024 * 1024,
    tls: {
      certificate: config.obkit.tls.certificate,
      privateKey: config.obkit.tls.private_key,
      // Only the gateway presents a certificate (for the feed); management clients need none.
      clientCas: [config.obkit.tls.internal_ca],
      requestCert: true,
      rejectUnauthorized: false,
    },
    readiness: { database: () => db.ping() },
  });
  try {
    const secrets = await openSecretBox(db);
    const tokens = await createTokenService(db, () => `${url}/oauth2/token`);
    const retriever = config.open_banking.dcr.jwks_retriever;
    const outboundCa = config.obkit.tls.outbound_ca
      ? readFileSync(config.obkit.tls.outbound_ca, 'utf8')
      : undefined;
    const outbound = new OutboundClient({
      allowPrivateAddresses: config.obkit.allow_private_addresses,
      connectTimeoutMs: retriever.connection_timeout,
      readTimeoutMs: retriever.read_timeout,
      maxBytes: 1024 * 1024,
      extraCa: outboundCa,
    });
    const context: ApiManagerContext = {
      config,
      db,
      secrets,
      tokens,
      outbound,
      changes: new ChangeNotifier(),
      url: () => url,
      regulatoryApis: regulatory.data.regulatory_apis,
    };
    await service.app.register(formbody);
    await service.app.register(multipart);
    registerAuthRoutes(service.app, context);
    await registerPublisherRoutes(service.app, context);
    await registerAdminRoutes(service.app, context);
    registerDevportalRoutes(service.app, context);
    registerFeedRoutes(service.app, context, internalCas);

    const port = await service.listen(config.obkit.api_manager.port, config.obkit.bind_address);
    if (!url) url = serviceUrl(config.obkit.hostname, port);
    service.logger.info({ url }, 'api-manager listening');
    return {
      service,
      db,
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
