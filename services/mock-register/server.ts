import { type Config, dataDirOf, serviceUrl } from '../../lib/config/index.ts';
import { createService, type Service } from '../../lib/http/service.ts';
import { adminLockoutOf } from '../../lib/limits/admin-lockout.ts';
import { type Database, openDatabase } from '../../lib/storage/index.ts';
import { migrations } from './migrations.ts';
import { RecipientJwks } from './recipient-jwks.ts';
import { registerRoutes } from './routes.ts';
import { RegisterSigningKeys } from './signing-keys.ts';
import { SoftwareProducts } from './software-products.ts';

export interface MockRegisterOptions {
  /** Overrides `obkit.mock_register.port`; 0 binds an ephemeral port. */
  port?: number;
  /** Overrides `obkit.database.url` (empty: PGlite under the state directory). */
  databaseUrl?: string;
  /** Database schema; tests sharing a PostgreSQL server use a unique one. */
  schema?: string;
  /** How long a rotated-out signing key stays in the published JWKS; default one day. */
  retiredKeyRetentionSeconds?: number;
}

export interface MockRegister {
  service: Service;
  /** Base URL: `obkit.mock_register.url`, or derived from the bound port when that is empty. */
  url: string;
  port: number;
  db: Database;
  keys: RegisterSigningKeys;
  products: SoftwareProducts;
  close(): Promise<void>;
}

/** Refused outside sandbox mode: a production Data Holder trusts the real CDR Register only. */
export class ProductionModeError extends Error {
  constructor() {
    super(
      'mock-register is a sandbox stand-in for the CDR Register and refuses to run with obkit.mode = "production"',
    );
    this.name = 'ProductionModeError';
  }
}

/** Starts the sandbox CDR Register: storage, signing key, HTTPS with optional client certificates. */
export async function createMockRegister(
  config: Config,
  options: MockRegisterOptions = {},
): Promise<MockRegister> {
  if (config.obkit.mode !== 'sandbox') throw new ProductionModeError();
  const databaseUrl = options.databaseUrl ?? config.obkit.database.url;
  const db = await openDatabase({
    url: databaseUrl,
    dataDir: databaseUrl ? undefined : dataDirOf(config, 'mock_register'),
    schema: options.schema ?? 'mock_register',
    migrations,
    connectTimeoutMs: config.obkit.database.connect_timeout_seconds * 1000,
    poolSize: 5,
  });
  let service: Service | undefined;
  try {
    const keys = new RegisterSigningKeys(db, options.retiredKeyRetentionSeconds ?? 86_400);
    await keys.ensureActive();
    const products = new SoftwareProducts(db);
    service = createService({
      name: 'mock-register',
      logLevel: config.obkit.log_level,
      tls: {
        certificate: config.obkit.tls.certificate,
        privateKey: config.obkit.tls.private_key,
        clientCas: [config.obkit.tls.truststore],
        // Asked, not required: the JWKS and admin surfaces serve callers without a certificate.
        requestCert: true,
        rejectUnauthorized: false,
      },
      managementPort: config.obkit.mock_register.management_port,
      readiness: { database: () => db.ping() },
      errorShape: 'cds',
      shutdownGraceSeconds: config.obkit.shutdown_grace_seconds,
    });
    await service.app.register(registerRoutes, {
      keys,
      products,
      recipientJwks: new RecipientJwks(db),
      admin: config.obkit.admin,
      adminLockout: adminLockoutOf(db, config, service.logger),
    });
    const port = await service.listen(
      options.port ?? config.obkit.mock_register.port,
      config.obkit.bind_address,
    );
    const url = config.obkit.mock_register.url || serviceUrl(config.obkit.hostname, port);
    const started = service;
    return {
      service: started,
      url,
      port,
      db,
      keys,
      products,
      async close() {
        await started.close();
        await db.close();
      },
    };
  } catch (error) {
    await service?.close();
    await db.close();
    throw error;
  }
}
