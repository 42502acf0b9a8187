import { mkdtemp, readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrivateAddress, OutboundClient, type OutboundError } from '../../../lib/http/outbound.ts';
import { SERVER_TLS_PROFILE } from '../../../lib/http/tls-profile.ts';
import { ensureSandboxPki } from '../../../lib/pki/index.ts';

let server: https.Server;
let base: string;
let ca: string;
const policy = { connectTimeoutMs: 1000, readTimeoutMs: 300, maxBytes: 1024 };

beforeAll(async () => {
  const pki = await ensureSandboxPki(await mkdtemp(join(tmpdir(), 'obkit-outbound-')));
  ca = await readFile(pki.caBundle, 'utf8');
  server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(pki.serverCertificate),
      key: await readFile(pki.serverKey),
    },
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

  it('tells the caller only that a URL could not be fetched, and logs the detail', async () => {
    const logged: Array<{ url: string; reason: string; detail: string }> = [];
    const logger = { warn: (entry: (typeof logged)[number]) => logged.push(entry) };
    const closedPort = await new Promise<number>((resolve) => {
      const probe = https.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const refused = `https://127.0.0.1:${closedPort}/jwks`;
    const untrusted = new OutboundClient({ ...policy, allowPrivateAddresses: true }, logger as never);
    const failures = [
      await untrusted.get(refused).catch((error: OutboundError) => error),
      await untrusted.get(`${base}/jwks`).catch((error: OutboundError) => error),
    ] as OutboundError[];
    await untrusted.close();
    expect(failures.map((failure) => failure.message)).toEqual([
      `${refused} could not be fetched`,
      `${base}/jwks could not be fetched`,
    ]);
    for (const failure of failures)
      expect(failure.message).not.toMatch(/ECONNREFUSED|self-signed|certificate/i);
    expect(failures[0]!.detail).toMatch(/ECONNREFUSED/);
    expect(failures[1]!.detail).toMatch(/certificate/i);
    expect(logged.map((entry) => entry.detail)).toEqual(failures.map((failure) => failure.detail));
  });

  it('classifies addresses: only public unicast is a destination', () => {
    for (const address of [
      '127.0.0.1',
      '0.0.0.0',
      '10.0.0.1',
      '172.20.1.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '203.0.113.9',
      '255.255.255.255',
      '::',
      '::1',
      'fd00::1',
      'fe80::1',
      '2001:db8::1',
      // IPv4-mapped (::ffff:0:0/96): judged by the IPv4 address inside.
      '::ffff:127.0.0.1',
      '::ffff:a00:1',
      // IPv4-compatible (::/96), deprecated: refused whatever it carries.
      '::7f00:1',
      '::8.8.8.8',
      // 6to4 (2002::/16) of 127.0.0.1 and 10.0.0.1.
      '2002:7f00:1::1',
      '2002:a00:1::',
      // NAT64 well-known and local-use prefixes, Teredo.
      '64:ff9b::808:808',
      '64:ff9b:1::1',
      '2001::1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['1.1.1.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1']) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
    expect(isPrivateAddress('localhost')).toBe(false);
  });
});
