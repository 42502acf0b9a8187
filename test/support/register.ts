import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createRecipientKeys, type RecipientAlg, type RecipientKeys } from '../../lib/cdr/recipient.ts';
import {
  type Industry,
  type ProductStatus,
  RegisterClient,
  type SoftwareProduct,
  type SoftwareProductInput,
} from '../../lib/cdr/register-client.ts';
import type { SoftwareProductMetadata, SoftwareStatementClaims } from '../../lib/cdr/software-statement.ts';
import { type Config, loadConfig } from '../../lib/config/index.ts';
import { ensureSandboxPki, type SandboxPki } from '../../lib/pki/index.ts';
import { createMockRegister, type MockRegister } from '../../services/mock-register/server.ts';
import { softwareStatementClaims } from '../../services/mock-register/software-statement.ts';

/**
 * The sandbox Register for tests: real HTTPS on an ephemeral port, a throwaway state directory and
 * sandbox PKI, PGlite (or a unique schema on PostgreSQL), and clients already holding the CA, the
 * sandbox recipient's transport certificate and the admin credential.
 */

export interface TestRegister {
  register: MockRegister;
  url: string;
  /** Where `/health/*` and `/metrics` are served. */
  managementUrl: string;
  config: Config;
  pki: SandboxPki;
  /** PEM: the CA bundle that issued the Register's server certificate (trust it for outbound fetches). */
  caPem: string;
  admin: { username: string; password: string };
  /** Holds the CA, the sandbox recipient's client certificate and the admin credential. */
  client: RegisterClient;
  /** Another client, e.g. without a certificate or with a wrong admin password (closed with the Register). */
  clientWith(options: {
    clientCertificate?: { certificate: string; key: string } | null;
    admin?: { username: string; password: string } | null;
  }): RegisterClient;
  close(): Promise<void>;
}

export interface StartMockRegisterOptions {
  /** PostgreSQL URL; a unique schema is created for the run and dropped on close. Default: PGlite. */
  databaseUrl?: string;
  /** Reuse a PKI directory (e.g. the one the identity server under test uses); default: a fresh one. */
  pkiDir?: string;
  retiredKeyRetentionSeconds?: number;
}

export async function startMockRegister(options: StartMockRegisterOptions = {}): Promise<TestRegister> {
  const stateDir = await mkdtemp(join(tmpdir(), 'obkit-mock-register-'));
  const pki = await ensureSandboxPki(options.pkiDir ?? join(stateDir, 'pki'));
  const admin = { username: 'admin', password: randomBytes(12).toString('base64url') };
  const config = loadConfig({
    env: {},
    overrides: {
      obkit: {
        mode: 'sandbox',
        state_dir: stateDir,
        log_level: 'silent',
        admin,
        mock_register: { port: 0 },
        tls: { certificate: pki.serverCertificate, private_key: pki.serverKey, truststore: pki.truststore },
      },
    },
  });
  const schema = options.databaseUrl
    ? `mock_register_${randomUUID().replaceAll('-', '').slice(0, 12)}`
    : undefined;
  let register: MockRegister;
  try {
    register = await createMockRegister(config, {
      port: 0,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl, schema } : {}),
      ...(options.retiredKeyRetentionSeconds !== undefined
        ? { retiredKeyRetentionSeconds: options.retiredKeyRetentionSeconds }
        : {}),
    });
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  const caPem = await readFile(pki.caBundle, 'utf8');
  const clientCertificate = {
    certificate: await readFile(pki.clientCertificate, 'utf8'),
    key: await readFile(pki.clientKey, 'utf8'),
  };
  const clients: RegisterClient[] = [];
  const clientWith: TestRegister['clientWith'] = (choice) => {
    const certificate = choice.clientCertificate === undefined ? clientCertificate : choice.clientCertificate;
    const credential = choice.admin === undefined ? admin : choice.admin;
    const client = new RegisterClient({
      baseUrl: register.url,
      ca: caPem,
      ...(certificate ? { clientCertificate: certificate } : {}),
      ...(credential ? { admin: credential } : {}),
    });
    clients.push(client);
    return client;
  };
  return {
    register,
    url: register.url,
    managementUrl: `https://localhost:${register.service.managementPort}`,
    config,
    pki,
    caPem,
    admin,
    client: clientWith({}),
    clientWith,
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await register.close();
      if (options.databaseUrl && schema) await dropSchema(options.databaseUrl, schema);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export interface SeedOptions {
  softwareProductId?: string;
  brandId?: string;
  industry?: Industry;
  status?: ProductStatus;
  /** Algorithm of the recipient's signing key (default PS256); or bring your own keys. */
  alg?: RecipientAlg;
  recipient?: RecipientKeys;
  /** The one host every redirect URI (and client/logo/policy/tos URI) is on. */
  host?: string;
  /** Point `sector_identifier_uri` at the Register's sector identifier document for the product. */
  sectorIdentifier?: boolean;
  /** Metadata replacing the defaults; `undefined` values remove optional claims. */
  metadata?: Partial<SoftwareProductMetadata>;
}

export interface SeededProduct {
  softwareProductId: string;
  brandId: string;
  industry: Industry;
  product: SoftwareProduct;
  recipient: RecipientKeys;
  /** Where the Register hosts the recipient's public JWKS (the product's default `jwks_uri`). */
  jwksUri: string;
  redirectUris: string[];
  /** A fresh SSA from the Register (over mutual TLS with the sandbox recipient certificate). */
  getSsa(): Promise<string>;
}

/**
 * Creates a recipient key, hosts its public JWKS on the Register and creates an ACTIVE software product
 * whose `jwks_uri` points there and whose redirect URIs share one host: everything a registration needs.
 */
export async function seedSoftwareProduct(
  register: TestRegister,
  options: SeedOptions = {},
): Promise<SeededProduct> {
  const softwareProductId = options.softwareProductId ?? randomUUID();
  const brandId = options.brandId ?? randomUUID();
  const industry = options.industry ?? 'banking';
  const recipient = options.recipient ?? (await createRecipientKeys({ alg: options.alg ?? 'PS256' }));
  const host = options.host ?? 'recipient.example';
  const jwksUri = register.client.recipientJwksUrl(softwareProductId);
  await register.client.putRecipientJwks(softwareProductId, recipient.jwks);
  const metadata: Record<string, unknown> = {
    legal_entity_id: randomUUID(),
    legal_entity_name: 'Sandbox Recipient Holdings Pty Ltd',
    org_id: randomUUID(),
    org_name: 'Sandbox Recipient Pty Ltd',
    client_name: `obkit test recipient ${softwareProductId.slice(0, 8)}`,
    client_description: 'A sandbox software product created by obkit tests',
    client_uri: `https://${host}/`,
    redirect_uris: [`https://${host}/callback`, `https://${host}/callback/second`],
    logo_uri: `https://${host}/logo.png`,
    tos_uri: `https://${host}/terms`,
    policy_uri: `https://${host}/policy`,
    jwks_uri: jwksUri,
    revocation_uri: `https://${host}/revoke`,
    recipient_base_uri: `https://${host}`,
    scope:
      'openid profile bank:accounts.basic:read bank:transactions:read common:customer.basic:read cdr:registration',
    ...(options.sectorIdentifier
      ? { sector_identifier_uri: register.client.sectorIdentifierUrl(softwareProductId) }
      : {}),
    ...options.metadata,
  };
  for (const [name, value] of Object.entries(metadata)) if (value === undefined) delete metadata[name];
  const input: SoftwareProductInput = {
    brandId,
    industry,
    status: options.status ?? 'ACTIVE',
    metadata: metadata as unknown as SoftwareProductMetadata,
  };
  const { product } = await register.client.putSoftwareProduct(softwareProductId, input);
  return {
    softwareProductId,
    brandId,
    industry,
    product,
    recipient,
    jwksUri,
    redirectUris: product.metadata.redirect_uris,
    getSsa: () => register.client.getSsa({ industry, brandId, softwareProductId }),
  };
}

/**
 * An SSA signed with the Register's real current key but with claims a real Register would never
 * issue: for Data Holder tests of SSA content rules (missing claims, http redirect URIs, wrong role…).
 */
export async function forgeSoftwareStatement(
  register: TestRegister,
  product: SoftwareProduct,
  options: {
    claims?: Partial<SoftwareStatementClaims> & Record<string, unknown>;
    omit?: readonly string[];
    now?: number;
  } = {},
): Promise<string> {
  const claims: Record<string, unknown> = {
    ...softwareStatementClaims(product, options.now ?? Math.floor(Date.now() / 1000)),
    ...options.claims,
  };
  for (const name of options.omit ?? []) delete claims[name];
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return register.register.keys.sign(claims);
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
