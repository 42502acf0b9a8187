import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSandboxPki, type SandboxPki } from '../../lib/pki/index.ts';
import { serviceHealth } from '../../scripts/lib/health.ts';
import { resolveTarget } from '../../scripts/lib/target.ts';

/**
 * `obkit status` from a chart's or stack's environment manifest (the configure hook and helm test run it
 * before configuring): no Service carries the management port, so a service is ready when its public
 * Service answers — Kubernetes routes a Service only to pods whose readiness probe passes.
 */

let dir: string;
let pki: SandboxPki;
let server: Server;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-k8s-status-'));
  pki = await ensureSandboxPki(join(dir, 'pki'));
  // Stands in for a pod behind its Service: the public port answers an unknown path with 404.
  server = createServer(
    { cert: await readFile(pki.serverCertificate), key: await readFile(pki.serverKey) },
    (_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}'),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://localhost:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function statusOf(services: Record<string, { url: string }>) {
  const file = join(dir, 'environment.json');
  const manifest = {
    name: 'obkit',
    mode: 'sandbox',
    namespace: 'obkit',
    services,
    tls: { caBundle: pki.caBundle, truststore: join(dir, 'ca-bundle.pem') },
    admin: { usernameEnv: 'OBKIT__OBKIT__ADMIN__USERNAME', passwordEnv: 'OBKIT_ADMIN_PASSWORD' },
  };
  await writeFile(file, JSON.stringify(manifest));
  const target = await resolveTarget({ environment: file }, {
    OBKIT_ADMIN_PASSWORD: 'x',
  } as NodeJS.ProcessEnv);
  return serviceHealth(target);
}

describe('obkit status in Kubernetes', () => {
  it('reports a service whose Service answers as up, without asking /health/ready on it', async () => {
    const result = await statusOf({
      gateway: { url },
      identityServer: { url },
      apiManager: { url },
      mockRegister: { url },
    });
    expect(result.data?.down).toBeUndefined();
    expect(result.actions.join('\n')).toMatch(/identity-server\s+UP .*answered HTTP 404/);
  });

  it('reports a service whose Service has no ready pod (connection refused) as down', async () => {
    const result = await statusOf({
      gateway: { url },
      identityServer: { url: 'https://127.0.0.1:1' },
      apiManager: { url },
    });
    expect(result.data?.down).toEqual(['identity-server']);
  });
});
