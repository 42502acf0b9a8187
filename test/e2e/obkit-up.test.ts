import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../lib/cdr/index.ts';
import { walkSandboxConsent } from '../../lib/cdr/sandbox-consent.ts';
import {
  type EnvironmentManifest,
  environmentManifestSchema,
} from '../../lib/config/environment-manifest.ts';
import { basicAuthorization, DCR_BACKEND_VAULT_ALIAS } from '../../lib/config/index.ts';
import { FAPI_TLS12_CIPHERS } from '../../lib/http/tls-profile.ts';
import { SecretBox } from '../../lib/secrets/index.ts';
import { DcrApi } from '../../scripts/lib/api-client/dcr.ts';
import { IdentityServerApi } from '../../scripts/lib/api-client/identity-server.ts';
import { keysFromJwk } from '../../scripts/lib/smoke.ts';
import { resolveTarget } from '../../scripts/lib/target.ts';
import { configOnFreePorts, OBKIT, ROOT, startForegroundUp } from '../support/obkit-up.ts';
import { handshake, NON_FAPI_TLS12_CIPHERS, renegotiate } from '../support/tls-probe.ts';

/**
 * `obkit up` as a user runs it: a spawned process in a temporary state directory on free ports (given by
 * a generated TOML, so a developer's running stack is never disturbed), the summary, the manifest, a
 * second configure, the printed curl command, and a restart that keeps the registration. It runs under a
 * permissive umask (000) on a state directory an earlier version left readable to others.
 */

const run = promisify(execFile);
let stateDir: string;
let up: ChildProcess | undefined;

/** `obkit up` under umask 000: every file would be world-readable unless obkit makes it owner-only. */
async function startUp(configFile: string): Promise<string> {
  const started = await startForegroundUp(
    'sh',
    [
      '-c',
      'umask 000 && exec "$@"',
      'sh',
      process.execPath,
      OBKIT,
      'up',
      '--config',
      configFile,
      '--state-dir',
      stateDir,
    ],
    150_000,
  );
  up = started.child;
  return started.output();
}

async function stopUp(): Promise<number | null> {
  if (!up || up.exitCode !== null) return up?.exitCode ?? null;
  up.kill('SIGTERM');
  const [code] = await once(up, 'exit');
  return code as number | null;
}

let configFile: string;
let firstSummary: string;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'obkit-up-'));
  configFile = join(stateDir, 'obkit.toml');
  await writeFile(configFile, await configOnFreePorts());
  // What an earlier version left: a state directory and a data directory readable by everyone.
  await mkdir(join(stateDir, 'data', 'left-behind'), { recursive: true });
  await writeFile(join(stateDir, 'data', 'left-behind', 'old.dat'), 'old');
  await chmod(join(stateDir, 'data', 'left-behind', 'old.dat'), 0o666);
  await chmod(join(stateDir, 'data', 'left-behind'), 0o755);
  await chmod(stateDir, 0o755);
  firstSummary = await startUp(configFile);
}, 180_000);

afterAll(async () => {
  await stopUp();
  await rm(stateDir, { recursive: true, force: true });
});

describe('obkit up', () => {
  it('reaches a passing smoke test and prints the summary', () => {
    expect(firstSummary).toMatch(/smoke-test: passed/);
    // The sandbox smoke goes on from registration to consent, data and revocation.
    expect(firstSummary).toMatch(/PAR → sandbox consent .* → JARM code/);
    expect(firstSummary).toMatch(/arrangement revoked by the recipient: 204, then the gateway answers 401/);
    expect(firstSummary).toMatch(/obkit is up \(sandbox\)/);
    expect(firstSummary).toMatch(/https:\/\/localhost:\d+\/consent\/dashboard/);
    expect(firstSummary).not.toContain(JSON.parse(firstSummaryCredential()).password);
  });

  it('writes environment.json with the URLs, certificates and the credential location (not the password)', async () => {
    const text = await readFile(join(stateDir, 'environment.json'), 'utf8');
    const raw = JSON.parse(text);
    // The shape the scripts read it with, and no field that schema would drop.
    const manifest = environmentManifestSchema.parse(raw);
    expect(manifest).toEqual(raw);
    expect(manifest.gateway.url).toMatch(/^https:\/\/localhost:\d+$/);
    expect(manifest.identityServer.issuer).toBe(`${manifest.identityServer.url}/oauth2/token`);
    expect(manifest.apiManager.url).toMatch(/^https:/);
    expect(manifest.mockRegister?.url).toMatch(/^https:/);
    expect(manifest.pki).toMatchObject({
      caCertificate: join(stateDir, 'pki', 'ca.pem'),
      caKey: join(stateDir, 'pki', 'issuing-ca.key'),
      clientCertificate: join(stateDir, 'pki', 'client.pem'),
      clientKey: join(stateDir, 'pki', 'client.key'),
    });
    expect(manifest.admin.credentialFile).toBe(join(stateDir, 'admin-credential.json'));
    expect(manifest.config?.file).toBe(configFile);
    expect(text).not.toContain(JSON.parse(firstSummaryCredential()).password);
  });

  it('a second configure reports every step unchanged', async () => {
    const { stdout } = await run(process.execPath, [OBKIT, 'configure', '--state-dir', stateDir, '--json'], {
      cwd: ROOT,
    });
    const { ok, results } = JSON.parse(stdout) as {
      ok: boolean;
      results: { step: string; status: string }[];
    };
    expect(ok).toBe(true);
    expect(Object.fromEntries(results.map((r) => [r.step, r.status]))).toEqual({
      'configure-key-manager': 'unchanged',
      'publish-dcr-api': 'unchanged',
      'publish-banking-api': 'unchanged',
      'load-truststore': 'unchanged',
      restart: 'skipped',
      'smoke-test': 'passed',
    });
  }, 60_000);

  let clientId: string;
  it('the printed curl command registers a client as printed', async () => {
    const line = firstSummary.split('\n').find((l) => l.trim().startsWith('curl '))!;
    const { stdout } = await run('sh', ['-c', `${line.trim()} --silent --show-error`]);
    const body = JSON.parse(stdout) as { client_id: string; software_statement: string };
    expect(body.client_id).toMatch(/\S+/);
    const product = JSON.parse(await readFile(join(stateDir, 'demo', 'software-product.json'), 'utf8'));
    expect(body.software_statement).toBe(product.ssa);
    clientId = body.client_id;
  }, 30_000);

  it('the printed consent URL and `obkit consent-url` lead to the sandbox consent page of the demo client', async () => {
    const printed = firstSummary
      .split('\n')
      .find((l) => l.trim().includes('/oauth2/authorize?'))!
      .trim();
    const { stdout } = await run(
      process.execPath,
      [OBKIT, 'consent-url', '--state-dir', stateDir, '--json'],
      { cwd: ROOT },
    );
    const fresh = JSON.parse(stdout) as { ok: boolean; url: string; expiresIn: number };
    expect(fresh.ok).toBe(true);
    expect(new URL(fresh.url).searchParams.get('client_id')).toBe(
      new URL(printed).searchParams.get('client_id'),
    );
    const ca = await readFile(join(stateDir, 'pki', 'ca.pem'), 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    try {
      // A tester's browser, as form posts: log in, deny; the demo client's redirect URI gets the answer.
      const redirect = await walkSandboxConsent(
        async (method, url, init) => {
          const response = await request(url, { method, ...init, dispatcher });
          return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
        },
        fresh.url,
        { customer: 'sandbox-customer-omar', accounts: [], approve: false },
      );
      expect(redirect.searchParams.get('response')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    } finally {
      await dispatcher.close();
    }
  }, 30_000);

  it('a restart (SIGTERM, then up again) keeps the registration', async () => {
    expect(await stopUp()).toBe(0);
    const second = await startUp(configFile);
    expect(second).toMatch(/configure-key-manager: unchanged/);
    expect(second).toMatch(/publish-dcr-api: unchanged/);
    const target = await resolveTarget(
      { 'state-dir': stateDir },
      { ...process.env, OBKIT_ADMIN_PASSWORD: '' },
    );
    expect(clientId).toBeDefined();
    const tls = {
      ca: target.ca,
      cert: target.clientCertificate!.certificate,
      key: target.clientCertificate!.key,
    };
    const is = new IdentityServerApi(target.http(target.manifest.identityServer.url, { tls }));
    const tokenEndpoint = `${target.manifest.identityServer.url}/oauth2/token`;
    // The second `up` prepared a new demo product: the client registered by curl uses the first one's key.
    const firstKey = await keysFromJwk(firstDemoKey);
    const assertion = await buildClientAssertion({ clientId, audience: tokenEndpoint, key: firstKey });
    const token = await is.token({
      grant_type: 'client_credentials',
      scope: 'cdr:registration',
      client_id: clientId,
      ...clientAssertionFields(assertion),
    });
    const gateway = new DcrApi(target.http(target.manifest.gateway.url, { tls }));
    const read = await gateway.get(clientId, token.access_token);
    expect(read.status).toBe(200);
    expect(read.data.client_id).toBe(clientId);
  }, 200_000);
});

describe('the running stack as an accreditation probe sees it', () => {
  const manifest = () =>
    JSON.parse(
      (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readFileSync(
        join(stateDir, 'environment.json'),
        'utf8',
      ),
    ) as EnvironmentManifest;
  const services = () => {
    const m = manifest();
    return [m.gateway, m.identityServer, m.apiManager, m.mockRegister!, m.banking!].map((service) => ({
      public: new URL(service.url),
      management: new URL(service.managementUrl!),
    }));
  };
  const everyPort = () => services().flatMap((service) => [service.public, service.management]);

  it('speaks TLS 1.2 with the four FAPI suites only, TLS 1.3, and refuses renegotiation on all 10 ports', async () => {
    const ca = await readFile(manifest().pki.caCertificate, 'utf8');
    for (const url of everyPort()) {
      const port = Number(url.port);
      const fapi = await handshake(port, {
        ca,
        maxVersion: 'TLSv1.2',
        ciphers: FAPI_TLS12_CIPHERS.join(':'),
      });
      expect(fapi.protocol, url.href).toBe('TLSv1.2');
      for (const cipher of FAPI_TLS12_CIPHERS) {
        expect((await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: cipher })).cipher).toBe(cipher);
      }
      await expect(
        handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: NON_FAPI_TLS12_CIPHERS.join(':') }),
        url.href,
      ).rejects.toThrow(/handshake failure|alert/i);
      expect((await handshake(port, { ca, minVersion: 'TLSv1.3' })).protocol, url.href).toBe('TLSv1.3');
      expect((await renegotiate(port, { ca }))?.message, url.href).toMatch(/no renegotiation|closed/i);
    }
  }, 60_000);

  it('serves health and metrics on the management ports only', async () => {
    const ca = await readFile(manifest().pki.caCertificate, 'utf8');
    const agent = new Agent({ connect: { ca } });
    const get = async (url: URL, path: string) => {
      const response = await request(new URL(path, url), { dispatcher: agent });
      return { status: response.statusCode, text: await response.body.text() };
    };
    try {
      for (const service of services()) {
        expect((await get(service.management, '/health/ready')).status, service.management.href).toBe(200);
        expect((await get(service.management, '/metrics')).text).toContain('process_cpu_user_seconds_total');
        for (const path of ['/health/live', '/health/ready', '/metrics']) {
          const response = await get(service.public, path);
          // 404 on the internal services; 401 at the gateway, which asks a certificate of every API call.
          expect([401, 404], `${service.public.href}${path}`).toContain(response.status);
          expect(response.text).not.toMatch(/process_cpu|nodejs_version|"UP"/);
        }
      }
    } finally {
      await agent.close();
    }
  });

  it('keeps the state directory owner-only: 0700 directories, 0600 files, the database included', async () => {
    const open: string[] = [];
    let files = 0;
    const walk = async (path: string) => {
      const stats = await lstat(path);
      if (stats.isSymbolicLink()) return;
      if (stats.mode & 0o077) open.push(`${(stats.mode & 0o777).toString(8)} ${path}`);
      if (!stats.isDirectory()) {
        files++;
        return;
      }
      for (const entry of await readdir(path)) await walk(join(path, entry));
    };
    await walk(stateDir);
    expect(open).toEqual([]);
    expect(files).toBeGreaterThan(100); // the database cluster, PKI, logs were all looked at
    expect((await lstat(join(stateDir, 'encryption.key'))).mode & 0o777).toBe(0o600);
  });

  it('stores no private signing key or client secret in clear in the database files (WAL included)', async () => {
    const box = new SecretBox({
      current: Buffer.from(await readFile(join(stateDir, 'encryption.key'), 'utf8'), 'base64'),
      previous: [],
      setting: 'encryption.key',
    });
    const db = new pg.Client({
      connectionString: `postgresql://postgres@/postgres?host=${encodeURIComponent(join(stateDir, 'run'))}`,
    });
    await db.connect();
    const secrets: string[] = [];
    try {
      const sealed = await db.query<{ value: string }>(
        `SELECT sealed_private_jwk AS value FROM identity_server.signing_keys
          UNION ALL SELECT client_secret_sealed FROM identity_server.clients WHERE client_secret_sealed IS NOT NULL
          UNION ALL SELECT sealed_private_jwk FROM api_manager.signing_keys
          UNION ALL SELECT secret_encrypted FROM api_manager.clients WHERE secret_encrypted IS NOT NULL
          UNION ALL SELECT secrets_encrypted FROM api_manager.key_managers WHERE secrets_encrypted IS NOT NULL`,
      );
      for (const row of sealed.rows) {
        const plain = box.open(row.value);
        if (plain.startsWith('{')) {
          // A private JWK, or a key manager's connector secrets.
          const members = JSON.parse(plain) as Record<string, string>;
          const privateParts = ['d', 'p', 'q'].map((member) => members[member]).filter(Boolean);
          secrets.push(...((privateParts.length ? privateParts : Object.values(members)) as string[]));
        } else secrets.push(plain);
      }
    } finally {
      await db.end();
    }
    // Three signing keys' private parts, the management clients' secrets, the key manager's password.
    expect(secrets.length).toBeGreaterThanOrEqual(7);
    secrets.push(JSON.parse(firstSummaryCredential()).password);
    const dataDir = join(stateDir, 'data', 'postgres');
    const found: string[] = [];
    const entries = await readdir(dataDir, { recursive: true, withFileTypes: true });
    expect(entries.some((entry) => entry.parentPath.includes('pg_wal'))).toBe(true);
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const bytes = await readFile(join(entry.parentPath, entry.name));
      for (const secret of secrets)
        if (bytes.includes(secret)) found.push(join(entry.parentPath, entry.name));
    }
    expect(found).toEqual([]);
  });

  it("keeps the gateway's DCR backend credential in its vault and credential file only, nowhere else on disk", async () => {
    const { password } = JSON.parse(await readFile(join(stateDir, 'dcr-backend-credential.json'), 'utf8'));
    const authorization = basicAuthorization('obkit-gateway', password);
    const vaultEntry = join(stateDir, 'vault', DCR_BACKEND_VAULT_ALIAS);
    expect(await readFile(vaultEntry, 'utf8')).toBe(authorization);
    const admin = JSON.parse(firstSummaryCredential()).password as string;
    expect(password).not.toBe(admin);
    const secrets = [password, authorization.slice('Basic '.length)].map((text) => Buffer.from(text));
    const adminBasic = Buffer.from(basicAuthorization('admin', admin).slice('Basic '.length));
    let files = 0;
    for (const entry of await readdir(stateDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      if (file === vaultEntry || file === join(stateDir, 'dcr-backend-credential.json')) continue;
      const content = await readFile(file);
      files++;
      for (const secret of secrets) expect(content.includes(secret), file).toBe(false);
      // The admin credential is not what the gateway sends, so neither its snapshot nor a log holds it.
      if (/snapshot\.json$|\.log$/.test(file)) expect(content.includes(adminBasic), file).toBe(false);
    }
    expect(files).toBeGreaterThan(20);
  });

  it('refuses the DCR admin path without a certificate and with a recipient certificate', async () => {
    const m = manifest();
    const { password } = JSON.parse(await readFile(join(stateDir, 'dcr-backend-credential.json'), 'utf8'));
    const ca = await readFile(m.pki.caCertificate, 'utf8');
    const recipient = {
      cert: await readFile(m.pki.clientCertificate!, 'utf8'),
      key: await readFile(m.pki.clientKey!, 'utf8'),
    };
    for (const [name, connect] of [
      ['no certificate', { ca }],
      ['recipient certificate', { ca, ...recipient }],
    ] as const) {
      const agent = new Agent({ connect });
      try {
        for (const method of ['GET', 'DELETE'] as const) {
          const response = await request(
            `${m.identityServer.url}/api/openbanking/dynamic-client-registration/register/any-client`,
            {
              method,
              dispatcher: agent,
              headers: {
                authorization: basicAuthorization('obkit-gateway', password),
                'x-wso2-client-id': 'any-client',
              },
            },
          );
          expect(response.statusCode, `${method} with ${name}`).toBe(403);
          expect(await response.body.json()).toMatchObject({ error: 'access_denied' });
        }
      } finally {
        await agent.close();
      }
    }
  });

  it('`obkit status` asks the management ports and finds every service up', async () => {
    const { stdout } = await run(process.execPath, [OBKIT, 'status', '--state-dir', stateDir, '--json'], {
      cwd: ROOT,
    });
    const services = JSON.parse(stdout).results[0].data.services as Record<
      string,
      { url: string; ready: boolean }
    >;
    expect(Object.keys(services).sort()).toEqual([
      'api-manager',
      'banking',
      'gateway',
      'identity-server',
      'mock-register',
    ]);
    for (const [name, health] of Object.entries(services)) {
      expect(health.ready, name).toBe(true);
      expect(everyPort().filter((url) => url.href.startsWith(health.url))).toHaveLength(1);
    }
  });
});

let firstDemoKey: Record<string, unknown>;
beforeAll(async () => {
  firstDemoKey = JSON.parse(await readFile(join(stateDir, 'demo', 'signing-key.jwk.json'), 'utf8'));
});

function firstSummaryCredential(): string {
  return (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readFileSync(
    join(stateDir, 'admin-credential.json'),
    'utf8',
  );
}
