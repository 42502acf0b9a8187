import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';
import { ensureSandboxPki, type SandboxPki } from '../../lib/pki/index.ts';
import { ApiCallError, HttpClient } from '../../scripts/lib/api-client/http.ts';
import { ManagementSession } from '../../scripts/lib/api-client/management-session.ts';

/** A real HTTPS server whose answers each test scripts, to exercise retries and error reporting. */
let dir: string;
let pki: SandboxPki;
let ca: string;
let server: https.Server;
let base: string;
let answers: { status: number; body: unknown }[] = [];
let seen: { url: string; authorization?: string }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-client-'));
  pki = await ensureSandboxPki(join(dir, 'pki'));
  ca = await readFile(pki.caBundle, 'utf8');
  server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(pki.serverCertificate),
      key: await readFile(pki.serverKey),
    },
    (req, res) => {
      seen.push({
        url: req.url ?? '',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      const answer = answers.shift() ?? { status: 200, body: { ok: true } };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function client(options: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) {
  answers = [];
  seen = [];
  return new HttpClient({ baseUrl: base, tls: { ca }, backoffMs: 20, retries: 3, ...options });
}

describe('HttpClient', () => {
  it('retries 5xx answers with exponential backoff and then succeeds', async () => {
    const delays: number[] = [];
    const http = client({ onRetry: (retry) => delays.push(retry.delayMs) });
    answers = [
      { status: 503, body: { code: 503, message: 'Service Unavailable', description: 'starting' } },
      { status: 502, body: 'bad gateway' },
    ];
    const response = await http.request<{ ok: boolean }>('GET', '/api/thing');
    expect(response.data.ok).toBe(true);
    expect(seen).toHaveLength(3);
    expect(delays).toEqual([20, 40]);
  });

  it('does not repeat a POST that may have taken effect (a 5xx), unless the call says it is idempotent', async () => {
    const http = client();
    answers = [{ status: 503, body: { code: 503, message: 'Service Unavailable', description: 'busy' } }];
    const error = await http
      .request('POST', '/api/am/publisher/v4/apis/x/revisions')
      .catch((e: unknown) => e);
    expect((error as ApiCallError).status).toBe(503);
    expect(seen).toHaveLength(1);

    const safe = client();
    answers = [{ status: 503, body: 'busy' }];
    const response = await safe.request<{ ok: boolean }>('POST', '/oauth2/token', { idempotent: true });
    expect(response.data.ok).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it('gives up on a server that keeps failing with the URL, the status and the API error', async () => {
    const http = client({ retries: 2 });
    answers = Array.from({ length: 3 }, () => ({
      status: 500,
      body: { code: 500, message: 'Internal Server Error', description: 'database down' },
    }));
    const error = await http.request('GET', '/api/am/admin/v4/key-managers').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiCallError);
    expect((error as ApiCallError).status).toBe(500);
    expect((error as Error).message).toBe(
      `GET ${base}/api/am/admin/v4/key-managers → HTTP 500: Internal Server Error: database down (gave up after 3 attempts)`,
    );
  });

  it('retries an API that is down, then names it', async () => {
    const closed = https.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const retries: string[] = [];
    const http = new HttpClient({
      baseUrl: `https://127.0.0.1:${port}`,
      tls: { ca },
      retries: 3,
      backoffMs: 10,
      onRetry: (r) => retries.push(r.reason),
    });
    const started = Date.now();
    const error = (await http.request('GET', '/health/ready').catch((e: unknown) => e)) as ApiCallError;
    expect(error).toBeInstanceOf(ApiCallError);
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(
      new RegExp(`^GET https://127.0.0.1:${port}/health/ready failed: ECONNREFUSED`),
    );
    expect(error.message).toContain('gave up after 4 attempts');
    expect(retries).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10 + 20 + 40);
  });

  it('does not retry a client error and reports the OAuth error body', async () => {
    const http = client();
    answers = [
      {
        status: 400,
        body: { error: 'invalid_client_metadata', error_description: 'Invalid audience provided' },
      },
    ];
    const error = (await http
      .request('POST', '/register', { data: 'x' })
      .catch((e: unknown) => e)) as ApiCallError;
    expect(error.message).toBe(
      `POST ${base}/register → HTTP 400: invalid_client_metadata: Invalid audience provided`,
    );
    expect(seen).toHaveLength(1);
  });

  it('refuses a server its CA does not vouch for, without retrying', async () => {
    const http = client({ tls: {} });
    const error = (await http.request('GET', '/x').catch((e: unknown) => e)) as ApiCallError;
    expect(error.message).toMatch(/failed: .*(certificate|CERT)/i);
    expect(seen).toHaveLength(0);
  });
});

describe('ManagementSession', () => {
  it('never puts the admin password in an error message', async () => {
    const http = client();
    answers = [
      { status: 401, body: { code: 401, message: 'Unauthorized', description: 'invalid credentials' } },
    ];
    const session = new ManagementSession(http, { username: 'admin', password: 's3cret-password' });
    const error = (await session.token().catch((e: unknown) => e)) as Error;
    expect(error.message).toContain(
      '/client-registration/v0.17/register → HTTP 401: Unauthorized: invalid credentials',
    );
    expect(error.message).not.toContain('s3cret-password');
    expect(error.message).not.toContain(Buffer.from('admin:s3cret-password').toString('base64'));
    expect(JSON.stringify(error)).not.toContain('s3cret');
    expect(seen[0]?.authorization).toBe(`Basic ${Buffer.from('admin:s3cret-password').toString('base64')}`);
  });
});
