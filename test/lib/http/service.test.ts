import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidClientMetadata, renderError } from '../../../lib/http/errors.ts';
import {
  decodeCertificateHeader,
  encodeCertificateHeader,
  isGatewayConnection,
} from '../../../lib/http/forwarded-certificate.ts';
import { createService, type Service } from '../../../lib/http/service.ts';
import {
  createCertificateAuthority,
  ensureSandboxPki,
  issueCertificate,
  type SandboxPki,
} from '../../../lib/pki/index.ts';
import { DatabaseUnavailable } from '../../../lib/storage/index.ts';

let pki: SandboxPki;
let service: Service;
let base: string;
let management: string;
let ready = true;
let trustFile: string;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-service-'));
  pki = await ensureSandboxPki(dir);
  trustFile = join(dir, 'live-truststore.pem');
  await copyFile(pki.truststore, trustFile);
  service = createService({
    name: 'probe',
    logLevel: 'silent',
    tls: {
      certificate: pki.serverCertificate,
      privateKey: pki.serverKey,
      clientCas: [trustFile, pki.internalCaCertificate],
      requestCert: true,
    },
    managementPort: 0,
    readiness: {
      database: () => {
        if (!ready) throw new Error('connection refused');
      },
    },
  });
  service.app.get('/fail', async () => {
    throw new InvalidClientMetadata('Invalid audience provided');
  });
  service.app.get('/boom', async () => {
    throw new Error('secret internals');
  });
  service.app.get('/database-down', async () => {
    throw new DatabaseUnavailable(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  });
  service.app.get('/verified', async (req) => ({ verified: (req.raw.socket as tls.TLSSocket).authorized }));
  service.app.get('/whoami', async (req) => ({
    gateway: isGatewayConnection(req.raw.socket as tls.TLSSocket, [
      new X509Certificate(await readFile(pki.internalCaCertificate)),
    ]),
  }));
  const port = await service.listen(0, '127.0.0.1');
  base = `https://localhost:${port}`;
  management = `https://localhost:${service.managementPort}`;
});
afterAll(() => service.close());

const agent = (cert?: string, key?: string) =>
  new Agent({ connect: { ca: [readFileSyncCache.ca!], ...(cert ? { cert, key } : {}) } });
const readFileSyncCache: { ca?: string } = {};

async function get(path: string, dispatcher?: Agent, origin = base) {
  readFileSyncCache.ca ??= await readFile(pki.caBundle, 'utf8');
  const response = await request(`${origin}${path}`, { dispatcher: dispatcher ?? agent() });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe('HTTPS service scaffold', () => {
  it('reports liveness, and readiness from its checks, on the management port', async () => {
    expect(JSON.parse((await get('/health/live', undefined, management)).text)).toEqual({ status: 'UP' });
    expect((await get('/health/ready', undefined, management)).status).toBe(200);
    ready = false;
    const down = await get('/health/ready', undefined, management);
    ready = true;
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toEqual({
      status: 'DOWN',
      checks: { database: 'DOWN: connection refused' },
    });
  });

  it('serves Prometheus metrics with the public request counts on the management port', async () => {
    await get('/verified');
    const metrics = await get('/metrics', undefined, management);
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.text).toMatch(
      /obkit_http_requests_total\{method="GET",route="\/verified",status="200",component="probe"\} \d+/,
    );
  });

  it('serves neither health nor metrics on the public port, and nothing else on the management port', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const response = await get(path);
      expect(response.status, path).toBe(404);
      expect(response.text).not.toMatch(/UP|http_requests_total|nodejs_version/);
    }
    const other = await get('/verified', undefined, management);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.text).error).toBe('not_found');
  });

  it('renders protocol errors in one shape and hides internals of unexpected ones', async () => {
    const fail = await get('/fail');
    expect(fail.status).toBe(400);
    expect(JSON.parse(fail.text)).toEqual({
      error: 'invalid_client_metadata',
      error_description: 'Invalid audience provided',
    });
    const boom = await get('/boom');
    expect(boom.status).toBe(500);
    expect(boom.text).not.toContain('secret internals');
    const missing = await get('/nowhere');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error).toBe('not_found');
  });

  it('answers a known path with another method 405 and Allow, in JSON', async () => {
    readFileSyncCache.ca ??= await readFile(pki.caBundle, 'utf8');
    const response = await request(`${base}/fail`, { method: 'DELETE', dispatcher: agent() });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
    expect(await response.body.json()).toEqual({
      error: 'method_not_allowed',
      error_description: 'DELETE is not allowed here; allowed: GET, HEAD',
    });
  });

  it('answers an unreachable database with 503 and Retry-After, never 500', async () => {
    const down = await get('/database-down');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('2');
    expect(JSON.parse(down.text)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the database is unavailable; retry shortly',
    });
    expect(down.text).not.toContain('5432');
    expect(renderError(new DatabaseUnavailable(null), 'wso2').body).toEqual({
      code: 503,
      message: 'Service Unavailable',
      description: 'the database is unavailable; retry shortly',
    });
  });

  it('recognises the gateway only by its internal certificate, not by a recipient certificate named alike', async () => {
    readFileSyncCache.ca ??= await readFile(pki.caBundle, 'utf8');
    const gatewayCert = await readFile(pki.gatewayInternalCertificate, 'utf8');
    const gatewayKey = await readFile(pki.gatewayInternalKey, 'utf8');
    expect(JSON.parse((await get('/whoami', agent(gatewayCert, gatewayKey))).text).gateway).toBe(true);
    const issuing = {
      certificatePem: await readFile(pki.issuingCaCertificate, 'utf8'),
      keyPem: await readFile(pki.issuingCaKey, 'utf8'),
    };
    const impostor = await issueCertificate(issuing, { commonName: 'obkit-gateway', usage: 'client' });
    expect(
      JSON.parse((await get('/whoami', agent(impostor.certificatePem, impostor.keyPem))).text).gateway,
    ).toBe(false);
    expect(JSON.parse((await get('/whoami')).text).gateway).toBe(false);
  });

  it('picks up a changed truststore without a restart, keeping open connections', async () => {
    const newCa = await createCertificateAuthority('second recipient CA');
    const newClient = await issueCertificate(newCa, { commonName: 'adr-under-new-ca', usage: 'client' });
    // A fresh agent per probe: the verdict is made at the handshake, so each probe needs a new connection.
    const verified = async () =>
      JSON.parse((await get('/verified', agent(newClient.certificatePem, newClient.keyPem))).text).verified;
    const keptAlive = agent();
    expect((await get('/verified', keptAlive)).status).toBe(200);
    expect(await verified()).toBe(false);

    await writeFile(trustFile, `${await readFile(trustFile, 'utf8')}${newCa.certificatePem}`);
    await expect.poll(verified, { timeout: 5000 }).toBe(true);
    expect((await get('/verified', keptAlive)).status).toBe(200);
  });
});

describe('forwarded certificate header', () => {
  it('round-trips a PEM certificate and rejects garbage', async () => {
    const pem = await readFile(pki.clientCertificate, 'utf8');
    const encoded = encodeCertificateHeader(pem);
    expect(encoded).not.toMatch(/[\n ]/);
    expect(decodeCertificateHeader(encoded)?.subject).toContain('CN=obkit-sandbox-adr');
    expect(decodeCertificateHeader('not-a-certificate')).toBeUndefined();
    expect(decodeCertificateHeader(['a', 'b'])).toBeUndefined();
    expect(decodeCertificateHeader(undefined)).toBeUndefined();
  });
});

describe('draining on shutdown', () => {
  it('turns readiness to 503, finishes the request in flight with Connection: close and refuses new connections', async () => {
    const draining = createService({
      name: 'draining',
      logLevel: 'silent',
      tls: { certificate: pki.serverCertificate, privateKey: pki.serverKey },
      managementPort: 0,
      shutdownGraceSeconds: 10,
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    draining.app.get('/wait', async () => {
      arrived();
      await released;
      return { done: true };
    });
    const port = await draining.listen(0, '127.0.0.1');
    const url = `https://localhost:${port}`;
    readFileSyncCache.ca ??= await readFile(pki.caBundle, 'utf8');
    const client = agent();
    const pending = request(`${url}/wait`, { dispatcher: client });
    await inFlight;

    const drained = draining.drain();
    expect(draining.stopping.aborted).toBe(true);
    // The management listener stays up through the drain, so probes read the 503.
    const readiness = await get('/health/ready', agent(), `https://localhost:${draining.managementPort}`);
    expect(readiness.status).toBe(503);
    expect(JSON.parse(readiness.text)).toEqual({
      status: 'DOWN',
      checks: { shutdown: 'DOWN: shutting down' },
    });
    await expect(request(`${url}/wait`, { dispatcher: agent() })).rejects.toThrow();

    release();
    const response = await pending;
    expect(response.statusCode).toBe(200);
    expect(response.headers.connection).toBe('close');
    expect(await response.body.json()).toEqual({ done: true });
    await drained;
    await draining.close();
  });
});

describe('a port bound before the routes are ready', () => {
  it('answers 503 with Retry-After in the surface shape, then serves once fastify is ready', async () => {
    const early = createService({
      name: 'early',
      logLevel: 'silent',
      tls: { certificate: pki.serverCertificate, privateKey: pki.serverKey },
      managementPort: 0,
    });
    early.app.get('/feed', async () => ({ served: true }));
    // As the identity server does: bind first (to learn the URL), boot the routes afterwards.
    await new Promise<void>((resolve) => early.server.listen(0, '127.0.0.1', resolve));
    const address = early.server.address();
    const url = `https://localhost:${typeof address === 'object' && address ? address.port : 0}`;
    const starting = await get('/feed', undefined, url);
    expect(starting.status).toBe(503);
    expect(starting.headers['retry-after']).toBe('1');
    expect(JSON.parse(starting.text)).toMatchObject({ error: expect.any(String) });

    await early.app.ready();
    const served = await get('/feed', undefined, url);
    expect(served.status).toBe(200);
    expect(JSON.parse(served.text)).toEqual({ served: true });
    await early.close();
  });
});
