#!/usr/bin/env node
/**
 * Revocation at the gateway: what the revocation feed costs and how fast it is, beside what the
 * alternative — introspection with a short cache — would cost, measured on the same identity server.
 *
 *   (a) revoke → refused: a token cached by two gateways is revoked at /oauth2/revoke; time until both
 *       answer 401 (polled every 10 ms). With OBKIT_TEST_DATABASE_URL, also through a second identity
 *       server replica on the same PostgreSQL schema (the gateways follow the first one).
 *   (b) the feed's price at the identity server: its CPU per second while two gateways follow the feed
 *       and nothing is revoked (held polls, re-read every second).
 *   (c) the alternative's price: identity-server CPU and latency per introspection of a JWT access token
 *       (keep-alive, client_secret_basic) — what each token would cost every few seconds, and what the
 *       first request with a token would wait.
 *
 *   node bench/revocation.ts      env: BENCH_REVOCATIONS (20), BENCH_INTROSPECTIONS (2000)
 *
 * The identity server runs in a child process (its CPU is measured there); gateways, backend and the
 * load run in this one.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, importJWK, type JWK } from 'jose';
import { Pool } from 'undici';
import { createRecipientKeys } from '../lib/cdr/recipient.ts';
import { REVOCATIONS_PATH } from '../lib/gateway-feed/revocations.ts';
import { SERVER_TLS_PROFILE } from '../lib/http/tls-profile.ts';
import { postgresTarget } from '../test/support/database.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  keyManagerEntry,
  snapshotOf,
  startGateway,
} from '../test/support/gateway.ts';
import {
  clientAssertion,
  insertCdrClient,
  requestClientCredentialsToken,
  type StartedIdentityServer,
  send,
  startIdentityServer,
  startJwksServer,
} from '../test/support/identity-server.ts';
import { quantile } from './statistics.ts';

const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 20);
const INTROSPECTIONS = Number(process.env.BENCH_INTROSPECTIONS ?? 2000);
const SCOPE = 'bank:accounts.basic:read';

/** Parent → identity-server child. */
type Ask = { ask: 'token' } | { ask: 'revoke'; token: string } | { ask: 'cpu' } | { ask: 'stop' };
interface ChildReady {
  url: string;
  issuer: string;
  pkiDir: string;
  clientIdentity: { certificatePem: string; keyPem: string };
  /** A key-manager application that may introspect (client_secret_basic). */
  introspector: string;
  client: BenchClient;
}

if (process.argv[2] === '--identity-server') await serveIdentityServer(JSON.parse(process.argv[3]!));
else await main();

/** The CDR client both replicas act for: its id and private key (JWK). */
interface BenchClient {
  clientId: string;
  kid: string;
  privateJwk: JWK;
}

/**
 * Child: an identity server; the first replica registers one CDR client, a second one (`client` given)
 * shares its database and acts for the same client. Hands out tokens and revokes them when asked.
 */
async function serveIdentityServer(options: {
  pkiDir?: string;
  databaseUrl?: string;
  schema?: string;
  client?: BenchClient;
  /** A replica behind the first one's URL (and issuer), listening on a port of its own. */
  url?: string;
}) {
  const { client: given, url, ...serverOptions } = options;
  const is = await startIdentityServer({
    ...serverOptions,
    ...(url ? { overrides: { obkit: { identity_server: { url } } } } : {}),
  });
  const keys = await createRecipientKeys();
  if (given) {
    keys.kid = given.kid;
    keys.privateKey = (await importJWK(given.privateJwk, keys.alg)) as CryptoKey;
    keys.privateJwk = given.privateJwk;
  }
  const jwks = await startJwksServer(is.pki, keys.jwks);
  const clientId =
    given?.clientId ?? (await insertCdrClient(is.db, { jwksUri: jwks.url, scope: `openid ${SCOPE}` }));
  const app = await is.request('/keymanager-operations/dcr/register', {
    method: 'POST',
    headers: { authorization: is.adminAuthorization, 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: `introspector-${randomUUID()}`,
      grant_types: ['client_credentials'],
    }),
  });
  const { client_id, client_secret } = app.json() as { client_id: string; client_secret: string };
  const ready: ChildReady = {
    url: is.url,
    issuer: is.issuer,
    pkiDir: is.pki.dir,
    clientIdentity: is.clientIdentity,
    introspector: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
    client: { clientId, kid: keys.kid, privateJwk: keys.privateJwk },
  };
  process.send!(ready);
  process.on('message', async (message: Ask) => {
    if (message.ask === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!(user + system);
    } else if (message.ask === 'token') {
      const reply = await requestClientCredentialsToken(is, { clientId, keys, scope: SCOPE });
      process.send!(reply.json().access_token);
    } else if (message.ask === 'revoke') {
      await revoke(is, message.token, keys, clientId);
      process.send!('revoked');
    } else {
      await jwks.close();
      await is.close();
      process.exit(0);
    }
  });
}

async function revoke(
  is: StartedIdentityServer,
  token: string,
  keys: Awaited<ReturnType<typeof createRecipientKeys>>,
  clientId: string,
) {
  // This replica's own port, whatever URL it serves under.
  const { port } = is.server.service.server.address() as AddressInfo;
  const reply = await send(`https://localhost:${port}/oauth2/revoke`, is.agent(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token,
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await clientAssertion(keys, clientId, is.issuer),
    }).toString(),
  });
  if (reply.status !== 200) throw new Error(`revocation answered ${reply.status}: ${reply.text}`);
}

function startChild(options: Record<string, unknown>) {
  const child = fork(process.argv[1]!, ['--identity-server', JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(message: Ask) =>
    new Promise<T>((resolve) => {
      child.once('message', (answer) => resolve(answer as T));
      child.send(message);
    });
  const ready = new Promise<ChildReady>((resolve) => child.once('message', (m) => resolve(m as ChildReady)));
  return { child, ask, ready };
}

async function main(): Promise<void> {
  const postgres = await postgresTarget();
  const schema = `bench_revocation_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  const shared = postgres ? { databaseUrl: postgres.url, schema } : {};
  const primary = startChild(shared);
  const is = await primary.ready;
  const replica = postgres
    ? startChild({ ...shared, pkiDir: is.pkiDir, client: is.client, url: is.url })
    : undefined;
  await replica?.ready;
  const state = await createTestState({
    obkit: {
      tls: {
        certificate: `${is.pkiDir}/server.pem`,
        private_key: `${is.pkiDir}/server.key`,
        truststore: `${is.pkiDir}/truststore.pem`,
        internal_ca: `${is.pkiDir}/internal-ca.pem`,
        internal_client_certificate: `${is.pkiDir}/gateway-internal.pem`,
        internal_client_key: `${is.pkiDir}/gateway-internal.key`,
        outbound_ca: `${is.pkiDir}/ca.pem`,
      },
    },
  });
  const backend = await startBackend(is.pkiDir);
  const gateways = [await startGateway(state), await startGateway(state)];
  const recipient = clientOf(is.clientIdentity, await readFile(`${is.pkiDir}/ca.pem`, 'utf8'));
  try {
    const snapshot = snapshotOf({
      apis: [
        apiEntry('ProductsAPI', '/cds-au/v1/banking', backend.url, [
          { target: '/products', verb: 'GET', scopes: [SCOPE] },
        ]),
      ],
      keyManagers: [
        keyManagerEntry(
          { issuer: is.issuer, jwksUri: `${is.url}/oauth2/jwks`, audience: is.url },
          { consumerKeyClaim: 'client_id', revocationFeed: `${is.url}${REVOCATIONS_PATH}` },
        ),
      ],
      regulatoryApis: ['ProductsAPI'],
    });
    const idleCpu = async (seconds: number) => {
      const before = await primary.ask<number>({ ask: 'cpu' });
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      return ((await primary.ask<number>({ ask: 'cpu' })) - before) / seconds;
    };
    // The identity server's own idle cost (timers, GC), before any gateway follows its feed.
    const alone = await idleCpu(10);
    for (const gateway of gateways) await gateway.setSnapshot(snapshot);
    const status = async (url: string, token: string) => {
      const reply = await call(recipient, `${url}/cds-au/v1/banking/products`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (reply.status !== 200 && reply.status !== 401) throw new Error(JSON.stringify(reply.body));
      return reply.status;
    };

    const propagation = async (through: typeof primary) => {
      const latencies: number[] = [];
      for (let round = 0; round < REVOCATIONS; round++) {
        const token = await primary.ask<string>({ ask: 'token' });
        for (const gateway of gateways)
          if ((await status(gateway.url, token)) !== 200) throw new Error('not accepted');
        await through.ask({ ask: 'revoke', token });
        const revokedAt = performance.now();
        for (const gateway of gateways) {
          while ((await status(gateway.url, token)) !== 401) {
            if (performance.now() - revokedAt > 30_000)
              throw new Error('a revoked token still passes after 30 s');
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }
        latencies.push(performance.now() - revokedAt);
      }
      return summary(latencies);
    };
    console.log(
      `revocation bench: ${REVOCATIONS} revocations, 2 gateways, identity server on ${postgres ? 'PostgreSQL' : 'PGlite'}`,
    );
    console.log(`(a) revoke → refused by both gateways, same replica:   ${await propagation(primary)}`);
    if (replica)
      console.log(`(a) revoke → refused by both gateways, other replica:  ${await propagation(replica)}`);

    const following = await idleCpu(10);
    const perGateway = (following - alone) / 2;
    console.log(
      `(b) feed, nothing revoked: identity server CPU ${(following / 1000).toFixed(2)} ms/s with 2 gateways following, ` +
        `${(alone / 1000).toFixed(2)} ms/s with none → ${(perGateway / 1000).toFixed(2)} ms/s per gateway (${(perGateway / 10_000).toFixed(2)} % of a core)`,
    );

    const introspection = await introspect(is, await primary.ask<string>({ ask: 'token' }), primary.ask);
    console.log(
      `(c) introspection instead: identity server CPU ${introspection.cpuUs.toFixed(0)} µs per call, latency ${introspection.latency}`,
    );
    const tokens = 10_000;
    console.log(
      `    with a 4 s cache and ${tokens} tokens in use: ${(tokens / 4).toFixed(0)} introspections/s ≈ ${(((tokens / 4) * introspection.cpuUs) / 1e6).toFixed(2)} cores of identity server, and a round trip on each token's first request`,
    );
  } finally {
    for (const gateway of gateways) await gateway.close();
    await recipient.close();
    await backend.close();
    primary.child.send({ ask: 'stop' });
    replica?.child.send({ ask: 'stop' });
    await state.cleanup();
    if (postgres) setTimeout(() => void postgres.dropSchema(schema), 2000);
  }
}

async function introspect(is: ChildReady, token: string, ask: <T>(message: Ask) => Promise<T>) {
  const pool = new Pool(is.url, {
    connections: 8,
    connect: { ca: await readFile(`${is.pkiDir}/ca.pem`, 'utf8') },
  });
  const body = new URLSearchParams({ token }).toString();
  const latencies: number[] = [];
  const before = await ask<number>({ ask: 'cpu' });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < INTROSPECTIONS) {
        const started = performance.now();
        const response = await pool.request({
          path: '/oauth2/introspect',
          method: 'POST',
          headers: { authorization: is.introspector, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        const answer = (await response.body.json()) as { active?: boolean };
        if (!answer.active) throw new Error('introspection did not find the token active');
        latencies.push(performance.now() - started);
      }
    }),
  );
  const cpuUs = ((await ask<number>({ ask: 'cpu' })) - before) / latencies.length;
  await pool.close();
  return { cpuUs, latency: summary(latencies) };
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => quantile(sorted, q).toFixed(0);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`;
}

/** A resource server behind the gateway: answers 200 to everything. */
async function startBackend(pkiDir: string) {
  const server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(`${pkiDir}/server.pem`),
      key: await readFile(`${pkiDir}/server.key`),
    },
    (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
