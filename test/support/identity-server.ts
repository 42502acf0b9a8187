import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JWK, SignJWT } from 'jose';
import pg from 'pg';
import { Agent, request as undiciRequest } from 'undici';
import type { RecipientKeys } from '../../lib/cdr/recipient.ts';
import { basicAuthorization, type Config, deepMerge, loadConfig } from '../../lib/config/index.ts';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';
import type { Database } from '../../lib/storage/index.ts';
import {
  createIdentityServer,
  type IdentityServer,
  type IdentityServerOptions,
} from '../../services/identity-server/server.ts';
import { createTestPki, type TestPki } from './pki.ts';

/**
 * A real identity server for tests: port 0, a temporary state directory with its own sandbox PKI,
 * PGlite by default (or a unique schema on a PostgreSQL server), and HTTPS helpers that speak mutual
 * TLS with a chosen client certificate.
 */

export const TEST_ADMIN_PASSWORD = 'test-admin-password';
/** The gateway's own credential for the DCR backend in tests (never the admin's). */
export const TEST_DCR_BACKEND = { username: 'obkit-gateway', password: 'test-dcr-backend-password' };

export interface ClientIdentity {
  certificatePem: string;
  keyPem: string;
}

export interface StartIdentityServerOptions {
  /** PostgreSQL URL; PGlite in the state directory when absent. */
  databaseUrl?: string | undefined;
  /** Schema; defaults to a unique one per start on PostgreSQL (dropped by `close`). */
  schema?: string;
  /** TOML-shaped configuration overrides, applied over the test defaults. */
  overrides?: Record<string, unknown>;
  /** Extra routes mounted with the server's dependencies. */
  routes?: IdentityServerOptions['routes'];
  keyRefreshMs?: number;
  /**
   * An existing sandbox PKI directory to use (shared with e.g. the mock Register); reused as it is and
   * not removed. Default: a new PKI in the temporary state directory.
   */
  pkiDir?: string;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json<T = any>(): T;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Client certificate for the TLS connection: default the sandbox ADR's, `null` for none. */
  identity?: ClientIdentity | null;
}

export interface StartedIdentityServer {
  server: IdentityServer;
  url: string;
  /** Where `/health/*` and `/metrics` are served. */
  managementUrl: string;
  issuer: string;
  config: Config;
  db: Database;
  pki: TestPki;
  stateDir: string;
  /** `Basic …` with the admin credential. */
  adminAuthorization: string;
  /** `Basic …` with the gateway's DCR backend credential (TEST_DCR_BACKEND). */
  gatewayAuthorization: string;
  /** The sandbox recipient's transport certificate (trusted). */
  clientIdentity: ClientIdentity;
  /** The gateway's internal client certificate (CN=obkit-gateway, internal CA). */
  gatewayIdentity: ClientIdentity;
  /** An undici Agent trusting the sandbox CA, presenting `identity` (default the sandbox ADR's). */
  agent(identity?: ClientIdentity | null): Agent;
  request(path: string, init?: RequestInit): Promise<TestResponse>;
  /** Status of `GET /health/ready` on the management port, where it is served. */
  readiness(): Promise<number>;
  close(): Promise<void>;
}

export async function startIdentityServer(
  options: StartIdentityServerOptions = {},
): Promise<StartedIdentityServer> {
  const stateDir = await mkdtemp(join(tmpdir(), 'obkit-is-'));
  const pki = await createTestPki(options.pkiDir ?? join(stateDir, 'pki'));
  const tls = options.pkiDir
    ? {
        certificate: pki.serverCertificate,
        private_key: pki.serverKey,
        truststore: pki.truststore,
        internal_ca: pki.internalCaCertificate,
        internal_client_certificate: pki.gatewayInternalCertificate,
        internal_client_key: pki.gatewayInternalKey,
        outbound_ca: pki.caBundle,
      }
    : {};
  const schema =
    options.schema ?? (options.databaseUrl ? `identity_server_${randomBytes(5).toString('hex')}` : undefined);
  const config = loadConfig({
    env: {},
    overrides: deepMerge(
      {
        obkit: {
          mode: 'sandbox',
          hostname: 'localhost',
          state_dir: stateDir,
          log_level: process.env.OBKIT_TEST_LOG_LEVEL ?? 'silent',
          allow_private_addresses: true,
          identity_server: { port: 0 },
          admin: { username: 'admin', password: TEST_ADMIN_PASSWORD },
          dcr_backend: TEST_DCR_BACKEND,
          database: { url: options.databaseUrl ?? '' },
          tls,
        },
      },
      options.overrides ?? {},
    ),
  });
  let server: IdentityServer;
  try {
    server = await createIdentityServer(config, {
      ...(schema ? { schema } : {}),
      ...(options.routes ? { routes: options.routes } : {}),
      ...(options.keyRefreshMs ? { keyRefreshMs: options.keyRefreshMs } : {}),
    });
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  const { readFile } = await import('node:fs/promises');
  const clientIdentity = {
    certificatePem: await readFile(pki.clientCertificate, 'utf8'),
    keyPem: await readFile(pki.clientKey, 'utf8'),
  };
  const gatewayIdentity = {
    certificatePem: await readFile(pki.gatewayInternalCertificate, 'utf8'),
    keyPem: await readFile(pki.gatewayInternalKey, 'utf8'),
  };
  const managementUrl = `https://localhost:${server.service.managementPort}`;
  const agents = new Map<string, Agent>();
  const agent = (identity: ClientIdentity | null = clientIdentity) => {
    const key = identity?.certificatePem ?? 'none';
    let existing = agents.get(key);
    if (!existing) {
      existing = new Agent({
        connect: {
          ca: pki.ca,
          ...(identity ? { cert: identity.certificatePem, key: identity.keyPem } : {}),
        },
      });
      agents.set(key, existing);
    }
    return existing;
  };
  return {
    server,
    url: server.url,
    managementUrl,
    issuer: server.issuer,
    config: server.config,
    db: server.db,
    pki,
    stateDir,
    adminAuthorization: basicAuthorization('admin', TEST_ADMIN_PASSWORD),
    gatewayAuthorization: basicAuthorization(TEST_DCR_BACKEND.username, TEST_DCR_BACKEND.password),
    clientIdentity,
    gatewayIdentity,
    agent,
    request: (path, init = {}) => send(`${server.url}${path}`, agent(init.identity), init),
    readiness: async () => (await send(`${managementUrl}/health/ready`, agent(null))).status,
    async close() {
      for (const each of agents.values()) await each.close();
      await server.close();
      if (options.databaseUrl && schema && !options.schema) {
        const admin = new pg.Client({ connectionString: options.databaseUrl });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
      await pki.cleanup();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** One HTTPS request through `dispatcher`; the body is read in full. */
export async function send(url: string, dispatcher: Agent, init: RequestInit = {}): Promise<TestResponse> {
  const response = await undiciRequest(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
    dispatcher,
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers as TestResponse['headers'],
    text,
    json: () => JSON.parse(text),
  };
}

/** An HTTPS server on 127.0.0.1 (sandbox server certificate) serving a JWKS at `/jwks` that tests can change. */
export async function startJwksServer(
  pki: TestPki,
  jwks: { keys: JWK[] },
): Promise<{
  url: string;
  setJwks(next: { keys: JWK[] }): void;
  requests(): number;
  close(): Promise<void>;
}> {
  const { readFile } = await import('node:fs/promises');
  let current = jwks;
  let count = 0;
  const server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(pki.serverCertificate),
      key: await readFile(pki.serverKey),
    },
    (req, res) => {
      count++;
      if (req.url !== '/jwks') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(current));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${address.port}/jwks`,
    setJwks(next) {
      current = next;
    },
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Stores a CDR client (source `cdr-dcr`, private_key_jwt, certificate-bound tokens) the way the DCR
 * endpoint does, for tests of the OAuth core that do not go through a registration.
 */
export async function insertCdrClient(
  db: Database,
  client: { jwksUri: string; scope?: string; clientId?: string; metadata?: Record<string, unknown> },
): Promise<string> {
  const clientId = client.clientId ?? randomUUID();
  const metadata = {
    client_id: clientId,
    client_name: 'test recipient',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://recipient.example/callback'],
    jwks_uri: client.jwksUri,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    id_token_signed_response_alg: 'PS256',
    tls_client_certificate_bound_access_tokens: true,
    scope: client.scope ?? 'openid cdr:registration bank:accounts.basic:read',
    software_id: `software-${clientId}`,
    ...client.metadata,
  };
  await db.query(
    `INSERT INTO clients (client_id, source, software_id, metadata, client_id_issued_at)
     VALUES ($1, 'cdr-dcr', $2, $3::jsonb, $4)`,
    [clientId, metadata.software_id, JSON.stringify(metadata), Math.floor(Date.now() / 1000)],
  );
  return clientId;
}

/** A private_key_jwt client assertion (RFC 7523) for `audience` (the issuer or the token endpoint). */
export function clientAssertion(
  keys: RecipientKeys,
  clientId: string,
  audience: string,
  overrides: { alg?: string; claims?: Record<string, unknown> } = {},
): Promise<string> {
  return new SignJWT({ ...overrides.claims })
    .setProtectedHeader({ alg: overrides.alg ?? keys.alg, kid: keys.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(keys.privateKey);
}

/** `client_credentials` with private_key_jwt at /oauth2/token over the given TLS identity. */
export async function requestClientCredentialsToken(
  started: StartedIdentityServer,
  client: { clientId: string; keys: RecipientKeys; scope?: string; identity?: ClientIdentity | null },
): Promise<TestResponse> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: client.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(client.keys, client.clientId, started.issuer),
    ...(client.scope !== undefined ? { scope: client.scope } : {}),
  });
  return started.request('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    ...(client.identity !== undefined ? { identity: client.identity } : {}),
  });
}
