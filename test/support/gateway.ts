import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { type Config, deepMerge, loadConfig } from '../../lib/config/index.ts';
import type {
  DeployedApi,
  GatewaySnapshot,
  MediationStep,
  SnapshotKeyManager,
} from '../../lib/gateway-feed/snapshot.ts';
import { certificateThumbprint } from '../../lib/http/certificate-thumbprint.ts';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';
import {
  type CertificateAuthority,
  ensureSandboxPki,
  type IssuedCertificate,
  issueCertificate,
} from '../../lib/pki/index.ts';
import { createGateway, type Gateway, type GatewayOptions } from '../../services/gateway/server.ts';

/** A temporary state directory with a sandbox PKI and a gateway configuration on port 0. */
export async function createTestState(overrides: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-gw-'));
  const pki = await ensureSandboxPki(join(dir, 'pki'));
  const issuing: CertificateAuthority = {
    certificatePem: await readFile(pki.issuingCaCertificate, 'utf8'),
    keyPem: await readFile(pki.issuingCaKey, 'utf8'),
  };
  const config = (extra: Record<string, unknown> = {}): Config =>
    loadConfig({
      env: {},
      overrides: deepMerge(
        {
          obkit: {
            state_dir: dir,
            log_level: 'silent',
            admin: { username: 'admin', password: 'test-admin-password' },
            gateway: { port: 0 },
          },
        },
        deepMerge(overrides, extra),
      ),
    });
  return {
    dir,
    pki,
    issuing,
    config,
    caBundle: await readFile(pki.caBundle, 'utf8'),
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
export type TestState = Awaited<ReturnType<typeof createTestState>>;

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Subject of the client certificate the backend saw (the gateway's internal one). */
  peerSubject: string | undefined;
}

/**
 * A tiny HTTPS backend on port 0 that records every request and echoes it as JSON. `/slow` answers
 * after `slowMs`; `/big` answers `bigBytes` bytes.
 */
/** TLS options of a fake upstream the gateway reaches with its internal certificate (checked by the test). */
async function internalServerTls(state: TestState): Promise<https.ServerOptions> {
  return {
    ...SERVER_TLS_PROFILE,
    cert: await readFile(state.pki.serverCertificate),
    key: await readFile(state.pki.serverKey),
    ca: await readFile(state.pki.internalCaCertificate),
    requestCert: true,
    rejectUnauthorized: false,
  };
}

export async function startEchoBackend(
  state: TestState,
  options: { slowMs?: number; bigBytes?: number } = {},
) {
  const recorded: RecordedRequest[] = [];
  const server = https.createServer(await internalServerTls(state), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.();
      const entry: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString('utf8'),
        peerSubject: peer?.subject,
      };
      recorded.push(entry);
      const reply = () => {
        if (req.url?.includes('/big')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('x'.repeat(options.bigBytes ?? 1024));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'x-backend': 'echo' });
        res.end(JSON.stringify({ method: entry.method, url: entry.url }));
      };
      if (req.url?.includes('/slow')) setTimeout(reply, options.slowMs ?? 2000);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}`,
    port,
    recorded,
    last(): RecordedRequest {
      const entry = recorded.at(-1);
      if (!entry) throw new Error('the backend received no request');
      return entry;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
export type EchoBackend = Awaited<ReturnType<typeof startEchoBackend>>;

/**
 * A key manager: an HTTPS JWKS endpoint on port 0 with PS256 keys that sign access tokens (`rotate()`
 * adds a new current key), and an introspection endpoint answering for the opaque tokens in `active`
 * while recording the client certificate each introspection call came with.
 */
export async function startKeyManager(state: TestState) {
  const newKey = async (alg = 'PS256') => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = randomUUID();
    return { privateKey, kid, alg, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  };
  const keys = [await newKey()];
  let jwksFetches = 0;
  const active = new Map<string, Record<string, unknown>>();
  const introspectionPeers: (string | undefined)[] = [];
  const server = https.createServer(await internalServerTls(state), (req, res) => {
    if (req.url === '/oauth2/jwks') {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: keys.map((key) => key.jwk) }));
      return;
    }
    if (req.url === '/oauth2/introspect' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const socket = req.socket as import('node:tls').TLSSocket;
        introspectionPeers.push(socket.authorized ? socket.getPeerX509Certificate?.()?.subject : undefined);
        const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? '';
        const claims = active.get(token);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(claims ? { active: true, ...claims } : { active: false }));
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://localhost:${(server.address() as AddressInfo).port}`;
  const issuer = `${url}/oauth2/token`;
  return {
    url,
    issuer,
    /** The `aud` of its tokens, as the identity server's: its base URL. */
    audience: url,
    jwksUri: `${url}/oauth2/jwks`,
    introspectionEndpoint: `${url}/oauth2/introspect`,
    active,
    introspectionPeers,
    get jwksFetches() {
      return jwksFetches;
    },
    /** Publishes a new key beside the old one and signs with it from now on. */
    async rotate() {
      keys.unshift(await newKey());
    },
    /** Publishes a key for another algorithm (e.g. ES256, RS256) beside the current one, for `token`'s options. */
    async publish(alg: string) {
      const key = await newKey(alg);
      keys.push(key);
      return { key: key.privateKey, kid: key.kid, alg };
    },
    /** A token for `clientId` bound to `certificatePem` (unless `cnf: null`), with claim overrides. */
    async token(
      clientId: string,
      certificatePem: string | null,
      claims: Record<string, unknown> = {},
      options: {
        key?: Parameters<SignJWT['sign']>[0];
        kid?: string;
        alg?: string;
        /** The header `typ`; null leaves it out. */
        typ?: string | null;
        issuer?: string;
        expiresIn?: number;
        notBefore?: number;
      } = {},
    ): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        client_id: clientId,
        azp: clientId,
        aud: url,
        scope: 'cdr:registration',
        sub: `user-of-${clientId}`,
        ...(certificatePem ? { cnf: { 'x5t#S256': thumbprintOf(certificatePem) } } : {}),
        ...claims,
      };
      const typ = options.typ === undefined ? 'at+jwt' : options.typ;
      const jwt = new SignJWT(payload)
        .setProtectedHeader({
          alg: options.alg ?? 'PS256',
          kid: options.kid ?? keys[0]!.kid,
          ...(typ === null ? {} : { typ }),
        })
        .setIssuer(options.issuer ?? issuer)
        .setIssuedAt(now)
        .setJti(randomUUID())
        .setExpirationTime(now + (options.expiresIn ?? 600));
      if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
      return jwt.sign(options.key ?? keys[0]!.privateKey);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
export type TestKeyManager = Awaited<ReturnType<typeof startKeyManager>>;

export function thumbprintOf(certificatePem: string): string {
  return certificateThumbprint(new X509Certificate(certificatePem));
}

/** A recipient's client: an undici agent presenting `certificate` over mutual TLS to the gateway. */
export function clientOf(certificate: IssuedCertificate | undefined, caBundle: string): Agent {
  return new Agent({
    connect: {
      ca: caBundle,
      ...(certificate ? { cert: certificate.certificatePem, key: certificate.keyPem } : {}),
    },
  });
}

export async function call(
  agent: Agent,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  const response = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    body: options.body ?? null,
    dispatcher: agent,
  });
  const text = await response.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields directly
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: response.statusCode, headers: response.headers, body };
}

export async function issueClient(ca: CertificateAuthority, commonName: string, days?: number) {
  return issueCertificate(ca, { commonName, usage: 'client', ...(days !== undefined ? { days } : {}) });
}

export function keyManagerEntry(
  keyManager: { issuer: string; jwksUri: string; audience?: string },
  overrides: Partial<SnapshotKeyManager> = {},
): SnapshotKeyManager {
  return {
    id: randomUUID(),
    name: 'OBKM',
    type: 'ObKeyManager',
    enabled: true,
    issuer: keyManager.issuer,
    audience: keyManager.audience ?? null,
    jwksUri: keyManager.jwksUri,
    certificatePem: null,
    introspectionEndpoint: null,
    revocationFeed: null,
    tokenValidation: [{ type: 'JWT', enable: true }],
    enableSelfValidationJWT: true,
    consumerKeyClaim: 'azp',
    scopesClaim: 'scope',
    enableMapOAuthConsumerApps: true,
    ...overrides,
  };
}

type OperationSpec = {
  target: string;
  verb: string;
  auth?: 'None' | 'Application';
  scopes?: string[];
  request?: MediationStep[];
  response?: MediationStep[];
  fault?: MediationStep[];
};

export function apiEntry(
  name: string,
  context: string,
  endpoint: string,
  operations: OperationSpec[],
  overrides: Partial<DeployedApi> = {},
): DeployedApi {
  const policy = (steps: MediationStep[] | undefined) =>
    steps?.length
      ? [{ policyId: randomUUID(), policyName: `${name}-policy`, policyVersion: '1.0', steps }]
      : [];
  return {
    apiId: randomUUID(),
    revisionId: randomUUID(),
    revisionName: 'Revision 1',
    name,
    version: '0.2',
    context,
    lifeCycleStatus: 'PUBLISHED',
    deployments: [{ environment: 'Default', vhost: 'localhost' }],
    policies: ['Unlimited'],
    apiThrottlingPolicy: 'Unlimited',
    authorizationHeader: 'Authorization',
    endpoints: { production: endpoint, sandbox: endpoint },
    operations: operations.map((operation) => ({
      target: operation.target,
      verb: operation.verb,
      authType: operation.auth ?? 'Application',
      scopes: operation.scopes ?? [],
      throttlingPolicy: 'Unlimited',
      operationPolicies: {
        request: policy(operation.request),
        response: policy(operation.response),
        fault: policy(operation.fault),
      },
    })),
    ...overrides,
  };
}

export function snapshotOf(parts: Partial<GatewaySnapshot>): GatewaySnapshot {
  return {
    version: randomUUID(),
    generatedAt: new Date().toISOString(),
    apis: [],
    keyManagers: [],
    applications: [],
    subscriptionPolicies: [
      { name: 'Unlimited', requestCount: null, unitTime: 1, timeUnit: 'min' },
      { name: 'Bronze', requestCount: 3, unitTime: 1, timeUnit: 'min' },
    ],
    regulatoryApis: ['CDRDynamicClientRegistrationAPI'],
    truststorePem: null,
    ...parts,
  };
}

export async function startGateway(
  state: TestState,
  options: GatewayOptions = {},
  extra = {},
): Promise<Gateway> {
  return createGateway(state.config(extra), { feed: 'manual', ...options });
}

/** Where a gateway serves `/health/*` and `/metrics`: its management port, never the public one. */
export function managementUrlOf(gateway: Gateway): string {
  return `https://localhost:${gateway.service.managementPort}`;
}
