import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, serviceUrl } from '../../../lib/config/index.ts';
import { InvalidToken } from '../../../lib/http/errors.ts';
import { OutboundClient } from '../../../lib/http/outbound.ts';
import { createService } from '../../../lib/http/service.ts';
import { openDatabase, type Queryable } from '../../../lib/storage/index.ts';
import { adminCredentialChecker } from '../../../services/identity-server/admin/credential.ts';
import { dcrRoutes } from '../../../services/identity-server/dcr/index.ts';
import { migrations } from '../../../services/identity-server/migrations.ts';
import { ClientCertificateResolver } from '../../../services/identity-server/oauth/client-certificate.ts';

export interface StartedIdentityServer {
  url: string;
  issuer: string;
  db: Queryable;
  admin: { username: string; password: string };
  close(): Promise<void>;
}

/** TEMPORARY until test/support/identity-server.ts lands: the DCR plugin in a bare HTTPS service. */
export async function startIdentityServerForDcr(options: {
  pkiDir: string;
  registerUrl: string;
  overrides: Record<string, unknown>;
  databaseUrl?: string | undefined;
}): Promise<StartedIdentityServer> {
  const stateDir = await mkdtemp(join(tmpdir(), 'obkit-dcr-is-'));
  const admin = { username: 'admin', password: randomUUID() };
  const pki = (name: string) => join(options.pkiDir, name);
  const o = options.overrides as {
    obkit?: Record<string, unknown>;
    open_banking?: { dcr?: Record<string, unknown> };
  };
  const config = loadConfig({
    env: {},
    overrides: {
      ...options.overrides,
      obkit: {
        mode: 'sandbox',
        state_dir: stateDir,
        log_level: 'silent',
        admin,
        identity_server: { port: 0 },
        tls: {
          certificate: pki('server.pem'),
          private_key: pki('server.key'),
          truststore: pki('truststore.pem'),
          internal_ca: pki('internal-ca.pem'),
          outbound_ca: pki('ca.pem'),
        },
        ...o.obkit,
      },
      open_banking: {
        dcr: { jwks_url_sandbox: `${options.registerUrl}/cdr-register/v1/jwks`, ...o.open_banking?.dcr },
      },
    },
  });
  // PGlite prepares migration SQL as one statement: split the multi-statement migrations (temporary).
  const single = migrations
    .flatMap((migration) => migration.sql.replace(/--[^\n]*/g, '').split(';'))
    .map((sql) => sql.trim())
    .filter(Boolean)
    .map((sql, index) => ({ version: index + 1, name: `part ${index + 1}`, sql }));
  const db = await openDatabase({
    url: options.databaseUrl,
    schema: `is_${randomUUID().slice(0, 8)}`,
    migrations: single,
  });
  const service = createService({
    name: 'identity-server',
    logLevel: 'silent',
    tls: {
      certificate: config.obkit.tls.certificate,
      privateKey: config.obkit.tls.private_key,
      clientCas: [config.obkit.tls.truststore, config.obkit.tls.internal_ca],
      requestCert: true,
    },
  });
  const certificates = new ClientCertificateResolver(config.obkit.tls.internal_ca, service.logger);
  const retriever = config.open_banking.dcr.jwks_retriever;
  const outbound = new OutboundClient({
    allowPrivateAddresses: config.obkit.allow_private_addresses,
    connectTimeoutMs: retriever.connection_timeout,
    readTimeoutMs: retriever.read_timeout,
    maxBytes: retriever.size_limit,
    extraCa: readFileSync(config.obkit.tls.outbound_ca, 'utf8'),
  });
  let url = '';
  const deps = {
    db,
    config,
    get issuer() {
      return `${url}/oauth2/token`;
    },
    logger: service.logger,
    outbound,
    clientCertificate: (request: import('fastify').FastifyRequest) => certificates.certificateOf(request.raw),
    isAdminCredential: adminCredentialChecker(admin.username, admin.password),
    verifyAccessToken: async () => {
      throw new InvalidToken('not available in the temporary harness');
    },
  };
  // The issuer is needed by the rules at plugin start: bind first, then register (fastify allows
  // registering before ready only), so reserve a port by listening on 0 is not possible; use a getter.
  await service.app.register(dcrRoutes(deps), { prefix: '/api/openbanking/dynamic-client-registration' });
  const port = await service.listen(0, '127.0.0.1');
  url = serviceUrl('localhost', port);
  return {
    url,
    issuer: `${url}/oauth2/token`,
    db,
    admin,
    async close() {
      await service.close();
      await outbound.close();
      await db.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
