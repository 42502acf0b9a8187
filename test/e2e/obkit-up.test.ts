import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientAssertion, clientAssertionFields } from '../../lib/cdr/index.ts';
import { DcrApi, IdentityServerApi } from '../../scripts/lib/api-client.ts';
import { keysFromJwk } from '../../scripts/lib/smoke.ts';
import { type EnvironmentManifest, resolveTarget } from '../../scripts/lib/target.ts';

/**
 * `obkit up` as a user runs it: a spawned process in a temporary state directory on free ports (given by
 * a generated TOML, so a developer's running stack is never disturbed), the summary, the manifest, a
 * second configure, the printed curl command, and a restart that keeps the registration.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
let stateDir: string;
let up: ChildProcess | undefined;
let output = '';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

async function startUp(configFile: string): Promise<string> {
  output = '';
  up = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'obkit.ts'), 'up', '--config', configFile, '--state-dir', stateDir],
    {
      cwd: ROOT,
      env: { ...process.env, OBKIT_ADMIN_PASSWORD: '', OBKIT_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  up.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  up.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const deadline = Date.now() + 150_000;
  while (!output.includes('Ctrl-C stops every service.')) {
    if (up.exitCode !== null) throw new Error(`obkit up exited ${up.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`obkit up did not finish:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return output;
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
  const [gateway, identity, apim, register] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  configFile = join(stateDir, 'obkit.toml');
  await writeFile(
    configFile,
    `[obkit]
log_level = "warn"

[obkit.gateway]
port = ${gateway}

[obkit.identity_server]
port = ${identity}

[obkit.api_manager]
port = ${apim}

[obkit.mock_register]
port = ${register}
`,
  );
  firstSummary = await startUp(configFile);
}, 180_000);

afterAll(async () => {
  await stopUp();
  await rm(stateDir, { recursive: true, force: true });
});

describe('obkit up', () => {
  it('reaches a passing smoke test and prints the summary', () => {
    expect(firstSummary).toMatch(/smoke-test: passed/);
    expect(firstSummary).toMatch(/obkit is up \(sandbox\)/);
    expect(firstSummary).not.toContain(JSON.parse(firstSummaryCredential()).password);
  });

  it('writes environment.json with the URLs, certificates and the credential location (not the password)', async () => {
    const text = await readFile(join(stateDir, 'environment.json'), 'utf8');
    const manifest = JSON.parse(text) as EnvironmentManifest;
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
    const { stdout } = await run(
      process.execPath,
      [join(ROOT, 'bin', 'obkit.ts'), 'configure', '--state-dir', stateDir, '--json'],
      {
        cwd: ROOT,
      },
    );
    const { ok, results } = JSON.parse(stdout) as {
      ok: boolean;
      results: { step: string; status: string }[];
    };
    expect(ok).toBe(true);
    expect(Object.fromEntries(results.map((r) => [r.step, r.status]))).toEqual({
      'configure-key-manager': 'unchanged',
      'publish-dcr-api': 'unchanged',
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
