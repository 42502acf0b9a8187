import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import {
  buildClientAssertion,
  buildRegistrationRequest,
  clientAssertionFields,
  type RegistrationRequestOptions,
} from '../../lib/cdr/recipient.ts';
import { issueSandboxClientCertificate } from '../../lib/pki/index.ts';
import type { Queryable } from '../../lib/storage/index.ts';
import { REGISTRATION_PATH } from '../../lib/wso2/identity-server-paths.ts';
import { type StartedIdentityServer, startIdentityServerForDcr } from './dcr-identity-server.ts';
import { type SeededProduct, type SeedOptions, seedSoftwareProduct, type TestRegister } from './register.ts';

export { REGISTRATION_PATH };

export interface Certificate {
  certificate: string;
  key: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
}

export interface CallOptions {
  body?: string;
  contentType?: string;
  /** The TLS client certificate; null for none. Default: the harness recipient's certificate. */
  certificate?: Certificate | null;
  headers?: Record<string, string>;
}

/**
 * One identity server (real HTTPS, real DCR plugin, PGlite or PostgreSQL) wired to one sandbox
 * Register, plus what a recipient needs to talk to it: transport certificates, seeded software
 * products, request JWTs, access tokens and a row counter for "nothing persisted" checks.
 */
export interface DcrHarness {
  server: StartedIdentityServer;
  register: TestRegister;
  issuer: string;
  url: string;
  db: Queryable;
  certificate: Certificate;
  otherCertificate: Certificate;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  post(jwt: string, options?: CallOptions): Promise<Reply>;
  seed(options?: SeedOptions): Promise<SeededProduct>;
  /** A registration request for the product with a fresh SSA (options as lib/cdr's builder). */
  requestFor(product: SeededProduct, options?: Partial<RegistrationRequestOptions>): Promise<string>;
  /** Seeds a product and registers it; returns the product and the 201 body. */
  registered(options?: SeedOptions): Promise<{ product: SeededProduct; client: Record<string, unknown> }>;
  accessToken(
    clientId: string,
    product: SeededProduct,
    options?: { scope?: string; certificate?: Certificate },
  ): Promise<string>;
  tokenRequest(
    clientId: string,
    product: SeededProduct,
    options?: { scope?: string; certificate?: Certificate },
  ): Promise<Reply>;
  counts(): Promise<{ clients: number; jtis: number }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  register: TestRegister;
  /** Config overrides (TOML-shaped) for the identity server. */
  overrides?: Record<string, unknown>;
  databaseUrl?: string | undefined;
  /** A schema shared with other replicas (default: one of its own, dropped on close). */
  schema?: string;
}

export async function startHarness(options: HarnessOptions): Promise<DcrHarness> {
  const { register } = options;
  const server = await startIdentityServerForDcr({
    pkiDir: register.pki.dir,
    registerUrl: register.url,
    overrides: options.overrides ?? {},
    databaseUrl: options.databaseUrl,
    ...(options.schema ? { schema: options.schema } : {}),
  });
  const certificate: Certificate = {
    certificate: await readFile(register.pki.clientCertificate, 'utf8'),
    key: await readFile(register.pki.clientKey, 'utf8'),
  };
  const other = await issueSandboxClientCertificate(
    register.pki.dir,
    `other-recipient-${randomUUID().slice(0, 8)}`,
  );
  const otherCertificate = { certificate: other.certificatePem, key: other.keyPem };
  const agents = new Map<Certificate | null, Agent>();
  const agentFor = (cert: Certificate | null) => {
    let agent = agents.get(cert);
    if (!agent) {
      agent = new Agent({
        connect: { ca: register.caPem, ...(cert ? { cert: cert.certificate, key: cert.key } : {}) },
      });
      agents.set(cert, agent);
    }
    return agent;
  };

  const call: DcrHarness['call'] = async (method, path, callOptions = {}) => {
    const cert = callOptions.certificate === undefined ? certificate : callOptions.certificate;
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.body !== undefined)
      headers['content-type'] = callOptions.contentType ?? 'application/jwt';
    const response = await request(`${server.url}${path}`, {
      method: method as 'GET',
      headers,
      body: callOptions.body,
      dispatcher: agentFor(cert),
    });
    const text = await response.body.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { text };
    }
    return { status: response.statusCode, headers: response.headers, body, text };
  };

  const harness: DcrHarness = {
    server,
    register,
    issuer: server.issuer,
    url: server.url,
    db: server.db,
    certificate,
    otherCertificate,
    call,
    post: (jwt, callOptions) => call('POST', REGISTRATION_PATH, { ...callOptions, body: jwt }),
    seed: (seedOptions) => seedSoftwareProduct(register, seedOptions),
    async requestFor(product, requestOptions = {}) {
      return buildRegistrationRequest({
        ssa: requestOptions.ssa ?? (await product.getSsa()),
        audience: server.issuer,
        key: product.recipient,
        ...requestOptions,
      });
    },
    async registered(seedOptions) {
      const product = await harness.seed(seedOptions);
      const reply = await harness.post(await harness.requestFor(product));
      if (reply.status !== 201) throw new Error(`registration failed: ${reply.status} ${reply.text}`);
      return { product, client: reply.body };
    },
    async tokenRequest(clientId, product, tokenOptions = {}) {
      const assertion = await buildClientAssertion({
        clientId,
        audience: `${server.url}/oauth2/token`,
        key: product.recipient,
      });
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        scope: tokenOptions.scope ?? 'cdr:registration',
        client_id: clientId,
        ...clientAssertionFields(assertion),
      });
      return call('POST', '/oauth2/token', {
        body: form.toString(),
        contentType: 'application/x-www-form-urlencoded',
        certificate: tokenOptions.certificate ?? certificate,
      });
    },
    async accessToken(clientId, product, tokenOptions) {
      const reply = await harness.tokenRequest(clientId, product, tokenOptions);
      if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`);
      return reply.body.access_token as string;
    },
    async counts() {
      const clients = await server.db.query<{ n: number }>('SELECT count(*)::integer AS n FROM clients');
      const jtis = await server.db.query<{ n: number }>('SELECT count(*)::integer AS n FROM seen_jtis');
      return { clients: clients.rows[0]!.n, jtis: jtis.rows[0]!.n };
    },
    async close() {
      await Promise.all([...agents.values()].map((agent) => agent.close()));
      await server.close();
    },
  };
  return harness;
}
