import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, type IssuedCertificate, issueCertificate } from '../../lib/pki/index.ts';
import type { Gateway } from '../../services/gateway/server.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  type EchoBackend,
  issueClient,
  managementUrlOf,
  snapshotOf,
  startEchoBackend,
  startGateway,
  type TestState,
} from '../support/gateway.ts';
import { issueNonconformingCertificate } from '../support/pki.ts';

let state: TestState;
let backend: EchoBackend;
let gateway: Gateway;
let url: string;

beforeAll(async () => {
  state = await createTestState();
  backend = await startEchoBackend(state);
  gateway = await startGateway(state);
  await gateway.setSnapshot(
    snapshotOf({
      apis: [apiEntry('OpenAPI', '/open/v1', backend.url, [{ target: '/ping', verb: 'GET', auth: 'None' }])],
    }),
  );
  url = `${gateway.url}/open/v1/ping`;
});

afterAll(async () => {
  await gateway?.close();
  await backend?.close();
  await state?.cleanup();
});

async function attempt(certificate: IssuedCertificate | undefined) {
  const agent = clientOf(certificate, state.caBundle);
  try {
    return await call(agent, url);
  } finally {
    await agent.destroy();
  }
}

/** One keep-alive connection (Node's agent, one socket) so a test can tell whether it was reused. */
function keepAliveClient(certificate: IssuedCertificate) {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: state.caBundle,
    cert: certificate.certificatePem,
    key: certificate.keyPem,
  });
  return {
    get(): Promise<{ status: number; reused: boolean }> {
      return new Promise((resolve, reject) => {
        const req = https.get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    },
    close: () => agent.destroy(),
  };
}

describe('mutual TLS', () => {
  it('serves a client certificate issued under the truststore', async () => {
    const response = await attempt(await issueClient(state.issuing, 'trusted'));
    expect(response.status).toBe(200);
  });

  it('answers API calls without a client certificate with 401 invalid_client, health included', async () => {
    const response = await attempt(undefined);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
    const agent = clientOf(undefined, state.caBundle);
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      expect((await call(agent, `${gateway.url}${path}`)).status, path).toBe(401);
    }
    // Probes use the management port, which asks no certificate.
    expect((await call(agent, `${managementUrlOf(gateway)}/health/live`)).status).toBe(200);
    const ready = await call(agent, `${managementUrlOf(gateway)}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.checks.snapshot).toBe('UP');
    await agent.destroy();
  });

  it('refuses the connection of a certificate from a CA outside the truststore', async () => {
    const foreign = await createCertificateAuthority('foreign CA');
    await expect(attempt(await issueClient(foreign, 'intruder'))).rejects.toThrow();
    expect(backend.recorded.some((entry) => entry.url.includes('intruder'))).toBe(false);
  });

  it('refuses an expired client certificate', async () => {
    await expect(attempt(await issueClient(state.issuing, 'expired', 0))).rejects.toThrow();
  });

  it('refuses a certificate whose extended key usage is not clientAuth', async () => {
    const serverOnly = await issueCertificate(state.issuing, { commonName: 'server-only', usage: 'server' });
    await expect(attempt(serverOnly)).rejects.toThrow();
  });

  it('refuses a trusted certificate without any extended key usage (the identity server refuses it too)', async () => {
    const noEku = await issueNonconformingCertificate(state.issuing, 'no-eku', {
      name: 'no-eku',
      extendedKeyUsages: null,
    });
    await expect(attempt(noEku)).rejects.toThrow();
    expect(backend.recorded.some((entry) => entry.url.includes('no-eku'))).toBe(false);
  });

  it('also trusts the CAs of the truststore bundle received in the snapshot', async () => {
    const feedCa = await createCertificateAuthority('CA known to api-manager');
    const holder = await issueClient(feedCa, 'feed-trusted');
    await expect(attempt(holder)).rejects.toThrow();
    const current = gateway.snapshot!;
    await gateway.setSnapshot({
      ...current,
      version: `${current.version}-ca`,
      truststorePem: feedCa.certificatePem,
    });
    expect((await attempt(holder)).status).toBe(200);
    await gateway.setSnapshot({ ...current, version: `${current.version}-no-ca`, truststorePem: null });
    await expect(attempt(holder)).rejects.toThrow();
  });

  it('takes a truststore change without a restart and keeps open connections', async () => {
    const existing = keepAliveClient(await issueClient(state.issuing, 'long-lived'));
    expect(await existing.get()).toEqual({ status: 200, reused: false });

    const newCa = await createCertificateAuthority('new recipients CA');
    const newcomer = await issueClient(newCa, 'newcomer');
    await expect(attempt(newcomer)).rejects.toThrow();

    // Replace the bundle: only the new CA is trusted from now on.
    const before = await readFile(state.pki.truststore, 'utf8');
    await writeFile(state.pki.truststore, newCa.certificatePem);
    try {
      await expect
        .poll(
          async () => {
            try {
              return (await attempt(newcomer)).status === 200;
            } catch {
              return false;
            }
          },
          { timeout: 10_000, interval: 50 },
        )
        .toBe(true);
      // The connection opened under the old bundle carries on…
      expect(await existing.get()).toEqual({ status: 200, reused: true });
      // …while a new connection with a certificate of the removed CA is refused.
      await expect(attempt(await issueClient(state.issuing, 'late'))).rejects.toThrow();
    } finally {
      existing.close();
      await writeFile(state.pki.truststore, before);
    }
  });
});
