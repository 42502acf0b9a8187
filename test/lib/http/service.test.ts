import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
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

let pki: SandboxPki;
let service: Service;
let base: string;
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
  service.app.get('/verified', async (req) => ({ verified: (req.raw.socket as tls.TLSSocket).authorized }));
  service.app.get('/whoami', async (req) => ({
    gateway: isGatewayConnection(req.raw.socket as tls.TLSSocket, [
      new X509Certificate(await readFile(pki.internalCaCertificate)),
    ]),
  }));
  const port = await service.listen(0, '127.0.0.1');
  base = `https://localhost:${port}`;
});
afterAll(() => service.close());

const agent = (cert?: string, key?: string) =>
  new Agent({ connect: { ca: [readFileSyncCache.ca!], ...(cert ? { cert, key } : {}) } });
const readFileSyncCache: { ca?: string } = {};

async function get(path: string, dispatcher?: Agent) {
  readFileSyncCache.ca ??= await readFile(pki.caBundle, 'utf8');
  const response = await request(`${base}${path}`, { dispatcher: dispatcher ?? agent() });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

describe('HTTPS service scaffold', () => {
  it('reports liveness, and readiness from its checks', async () => {
    expect(JSON.parse((await get('/health/live')).text)).toEqual({ status: 'UP' });
    expect((await get('/health/ready')).status).toBe(200);
    ready = false;
    const down = await get('/health/ready');
    ready = true;
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toEqual({
      status: 'DOWN',
      checks: { database: 'DOWN: connection refused' },
    });
  });

  it('serves Prometheus metrics including request counts', async () => {
    await get('/health/live');
    const metrics = await get('/metrics');
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.text).toMatch(
      /http_requests_total\{method="GET",route="\/health\/live",status="200",service="probe"\} \d+/,
    );
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
    expect((await get('/health/live', keptAlive)).status).toBe(200);
    expect(await verified()).toBe(false);

    await writeFile(trustFile, `${await readFile(trustFile, 'utf8')}${newCa.certificatePem}`);
    await expect.poll(verified, { timeout: 5000 }).toBe(true);
    expect((await get('/health/live', keptAlive)).status).toBe(200);
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
