#!/usr/bin/env node
// Identity server throughput on loopback, each figure next to a baseline measured in the same run:
//   (a) bare mutual-TLS handshakes: a new connection per request to a trivial HTTPS server with the same
//       certificate, key and client-certificate verification as the identity server;
//   (b) CDR registrations per second, each on a new mutual-TLS connection (SSAs and request JWTs built
//       before the clock starts; one software product per registration);
//   (c) certificate-bound client_credentials tokens per second on keep-alive mutual-TLS connections
//       (pre-signed private_key_jwt assertions, distinct jti).
// The servers run in a child process so the load generator does not share their event loop.
import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildClientAssertion, buildRegistrationRequest, createRecipientKeys } from '../lib/cdr/recipient.ts';
import { REGISTRATION_PATH } from '../test/identity-server/dcr/harness.ts';
import { startIdentityServerForDcr } from '../test/identity-server/dcr/identity-server.ts';
import { seedSoftwareProduct, startMockRegister } from '../test/support/register.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 12);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const REGISTRATIONS = Number(process.env.BENCH_REGISTRATIONS ?? 1500);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 6000);

interface Prepared {
  identityServer: string;
  baseline: string;
  pkiDir: string;
  /** One registration request per software product, signed ahead. */
  requests: string[];
  /** client_credentials forms with pre-signed assertions (distinct jti) for one registered client. */
  forms: string[];
}

if (process.argv[2] === '--serve') await serve();
else await main();

/**
 * Child: the sandbox Register, the identity server and the baseline server. It also prepares the load
 * (products, SSAs, request JWTs, client assertions) before the parent starts any clock.
 */
async function serve(): Promise<void> {
  const register = await startMockRegister();
  const server = await startIdentityServerForDcr({
    pkiDir: register.pki.dir,
    registerUrl: register.url,
    overrides: {},
  });
  const pki = (name: string) => join(register.pki.dir, name);
  const baseline = https.createServer(
    {
      cert: await readFile(pki('server.pem')),
      key: await readFile(pki('server.key')),
      ca: [await readFile(pki('truststore.pem'))],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (request, response) => {
      const authorized = (request.socket as import('node:tls').TLSSocket).authorized;
      response.writeHead(authorized ? 200 : 401, { 'content-type': 'application/json' }).end('{"ok":true}');
    },
  );
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));

  // Distinct software products (one registration each), all signing with one recipient key.
  const recipient = await createRecipientKeys({ alg: 'ES256' });
  const requests: string[] = [];
  for (let start = 0; start <= REGISTRATIONS; start += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, REGISTRATIONS + 1 - start) }, async () => {
        const product = await seedSoftwareProduct(register, { recipient });
        return product.getSsa();
      }),
    );
    for (const ssa of batch)
      requests.push(await buildRegistrationRequest({ ssa, audience: server.issuer, key: recipient }));
  }
  const tls = await clientTls(register.pki.dir);
  const registered = JSON.parse(
    await call(server.url, REGISTRATION_PATH, tls, {
      method: 'POST',
      body: requests.pop()!,
      contentType: 'application/jwt',
    }),
  ) as { client_id: string };
  const forms: string[] = [];
  for (let index = 0; index < TOKENS; index++) {
    const assertion = await buildClientAssertion({
      clientId: registered.client_id,
      audience: server.issuer,
      key: recipient,
    });
    forms.push(
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'cdr:registration',
        client_id: registered.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }).toString(),
    );
  }
  const prepared: Prepared = {
    identityServer: server.url,
    baseline: `https://localhost:${(baseline.address() as AddressInfo).port}`,
    pkiDir: register.pki.dir,
    requests,
    forms,
  };
  process.send?.(prepared);
  process.on('message', async () => {
    baseline.close();
    await server.close();
    await register.close();
    process.exit(0);
  });
}

async function main(): Promise<void> {
  console.log(`preparing ${REGISTRATIONS} software products, request JWTs and ${TOKENS} client assertions…`);
  const child = fork(process.argv[1]!, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const prepared = await new Promise<Prepared>((resolve) =>
    child.once('message', (m) => resolve(m as Prepared)),
  );
  const tls = await clientTls(prepared.pkiDir);
  try {
    const handshakes = await closedLoop(SECONDS, Infinity, () => status(prepared.baseline, '/', tls, {}));
    let next = 0;
    const registrations = await closedLoop(SECONDS * 3, prepared.requests.length, async () => {
      const code = await status(prepared.identityServer, REGISTRATION_PATH, tls, {
        method: 'POST',
        body: prepared.requests[next++]!,
        contentType: 'application/jwt',
      });
      if (code !== 201) throw new Error(`registration answered ${code}`);
    });
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, ...tls });
    let form = 0;
    const tokens = await closedLoop(SECONDS, prepared.forms.length, async () => {
      const code = await status(prepared.identityServer, '/oauth2/token', tls, {
        agent: keepAlive,
        method: 'POST',
        body: prepared.forms[form++]!,
        contentType: 'application/x-www-form-urlencoded',
      });
      if (code !== 200) throw new Error(`token endpoint answered ${code}`);
    });
    keepAlive.destroy();

    console.table([
      {
        measure: '(a) bare mTLS handshakes, new connection each',
        'per second': Math.round(handshakes),
        ratio: 1,
      },
      {
        measure: '(b) registrations, new mTLS connection each',
        'per second': Math.round(registrations),
        ratio: Number((registrations / handshakes).toFixed(2)),
        target: '>= 300/s',
      },
      {
        measure: '(c) cert-bound client_credentials tokens, keep-alive',
        'per second': Math.round(tokens),
        ratio: Number((tokens / handshakes).toFixed(2)),
        target: '>= 1000/s',
      },
    ]);
    console.log(
      `concurrency ${CONCURRENCY}; loopback; servers in one child process, load generator in this one`,
    );
  } finally {
    child.send('stop');
  }
}

/** Runs `task` with CONCURRENCY workers for `seconds` or `limit` tasks; returns completed tasks per second. */
async function closedLoop(seconds: number, limit: number, task: () => Promise<unknown>): Promise<number> {
  let done = 0;
  let started = 0;
  const deadline = performance.now() + seconds * 1000;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline && started < limit) {
        started++;
        await task();
        done++;
      }
    }),
  );
  return done / ((performance.now() - begin) / 1000);
}

interface SendOptions {
  /** Keep-alive agent; without one every request opens (and closes) its own mutual-TLS connection. */
  agent?: https.Agent;
  method?: string;
  body?: string;
  contentType?: string;
}

type Tls = { ca: string; cert: string; key: string };

async function clientTls(pkiDir: string): Promise<Tls> {
  return {
    ca: await readFile(join(pkiDir, 'ca.pem'), 'utf8'),
    cert: await readFile(join(pkiDir, 'client.pem'), 'utf8'),
    key: await readFile(join(pkiDir, 'client.key'), 'utf8'),
  };
}

/** One HTTPS request; resolves with the status and the body. */
function call(base: string, path: string, tls: Tls, options: SendOptions = {}): Promise<string> {
  return exchange(base, path, tls, options).then((reply) => reply.body);
}

function status(base: string, path: string, tls: Tls, options: SendOptions): Promise<number> {
  return exchange(base, path, tls, options).then((reply) => reply.status);
}

function exchange(
  base: string,
  path: string,
  tls: Tls,
  options: SendOptions,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${base}${path}`,
      {
        method: options.method ?? 'GET',
        ...(options.agent ? { agent: options.agent } : { agent: false, ...tls }),
        headers: {
          ...(options.body
            ? { 'content-type': options.contentType!, 'content-length': Buffer.byteLength(options.body) }
            : {}),
          ...(options.agent ? {} : { connection: 'close' }),
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
