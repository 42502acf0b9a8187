import { mkdtemp, readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, OutboundClient, type OutboundError } from '../../../lib/http/outbound.ts';
import { ensureSandboxPki } from '../../../lib/pki/index.ts';

let server: https.Server;
let base: string;
let ca: string;
const policy = { connectTimeoutMs: 1000, readTimeoutMs: 300, maxBytes: 1024 };

beforeAll(async () => {
  const pki = await ensureSandboxPki(await mkdtemp(join(tmpdir(), 'obkit-outbound-')));
  ca = await readFile(pki.caBundle, 'utf8');
  server = https.createServer(
    { cert: await readFile(pki.serverCertificate), key: await readFile(pki.serverKey) },
    (req, res) => {
      if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [] }));
      if (req.url === '/big') return res.end('x'.repeat(4096));
      if (req.url === '/slow') return setTimeout(() => res.end('{}'), 1500);
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'https://169.254.169.254/latest' });
        return res.end();
      }
      res.writeHead(404).end();
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const reason = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: OutboundError) => error.reason,
  );

describe('guarded outbound fetch', () => {
  it('fetches JSON from a trusted HTTPS server when private addresses are allowed (sandbox)', async () => {
    const client = new OutboundClient({ ...policy, allowPrivateAddresses: true, extraCa: ca });
    expect(await client.getJson(`${base}/jwks`)).toEqual({ keys: [] });
    await client.close();
  });

  it('refuses loopback and private targets outside sandbox, by literal and after DNS resolution', async () => {
    const client = new OutboundClient({ ...policy, allowPrivateAddresses: false, extraCa: ca });
    expect(await reason(client.get(`${base}/jwks`))).toBe('address');
    expect(await reason(client.get(`https://127.0.0.1:${new URL(base).port}/jwks`))).toBe('address');
    expect(await reason(client.get('https://[::1]/jwks'))).toBe('address');
    expect(await reason(client.get('https://10.1.2.3/jwks'))).toBe('address');
    await client.close();
  });

  it('fetches only https, caps the size, times out, and does not follow redirects', async () => {
    const client = new OutboundClient({ ...policy, allowPrivateAddresses: true, extraCa: ca });
    expect(await reason(client.get('http://localhost/jwks'))).toBe('scheme');
    expect(await reason(client.get(`${base}/big`))).toBe('size');
    expect(await reason(client.get(`${base}/slow`))).toBe('timeout');
    expect((await client.get(`${base}/redirect`)).status).toBe(302);
    expect(await reason(client.getJson(`${base}/missing`))).toBe('status');
    await client.close();
  });

  it('does not trust a server outside the system roots and the configured CA', async () => {
    const client = new OutboundClient({ ...policy, allowPrivateAddresses: true });
    expect(await reason(client.get(`${base}/jwks`))).toBe('network');
    await client.close();
  });

  it('classifies addresses', () => {
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.20.1.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      '::ffff:127.0.0.1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['1.1.1.1', '203.0.113.9', '2606:4700::1111']) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });
});
