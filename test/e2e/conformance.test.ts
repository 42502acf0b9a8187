import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../lib/config/index.ts';
import { AdminApi } from '../../scripts/lib/api-client/admin.ts';
import { managementSession } from '../../scripts/lib/configure.ts';
import {
  claimsOf,
  newSigningKey,
  registrationRequest,
  SandboxRegister,
  type SigningKey,
  type SoftwareProduct,
  tampered,
  unsecured,
} from '../../scripts/lib/conformance/recipient.ts';
import { explainConfig, explainRegistration } from '../../scripts/lib/dcr-explain.ts';
import { resolveTarget } from '../../scripts/lib/target.ts';
import { configOnFreePorts, OBKIT, ROOT, startForegroundUp, UP_ENV } from '../support/obkit-up.ts';

/**
 * `obkit conformance dcr` (and the drift and diagnosis commands) against one stack started by
 * `obkit up` in a temporary state directory on free ports: every case passes against obkit itself;
 * with a validation toggle turned off (the identity server restarted on the changed TOML, as an
 * operator would) the run fails, naming the rule, the request and the answer.
 */

let stateDir: string;
let configFile: string;
let up: ChildProcess | undefined;
let toml: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function obkit(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [OBKIT, ...args],
      { cwd: ROOT, env: UP_ENV, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function upLock(): Promise<{
  processes: Record<string, { pid: number; restarts: number; state: string }>;
}> {
  return JSON.parse(await readFile(join(stateDir, 'up.lock'), 'utf8'));
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'obkit-conformance-'));
  configFile = join(stateDir, 'obkit.toml');
  toml = await configOnFreePorts();
  await writeFile(configFile, toml);
  up = (
    await startForegroundUp(
      process.execPath,
      [OBKIT, 'up', '--config', configFile, '--state-dir', stateDir],
      170_000,
    )
  ).child;
}, 180_000);

afterAll(async () => {
  if (up && up.exitCode === null) {
    up.kill('SIGTERM');
    await once(up, 'exit');
  }
  await rm(stateDir, { recursive: true, force: true });
});

describe('obkit conformance dcr', () => {
  it('passes every case against obkit, writes a JUnit report and JSON', async () => {
    const junit = join(stateDir, 'reports', 'conformance.xml');
    const run = await obkit('conformance', 'dcr', '--state-dir', stateDir, '--junit', junit, '--json');
    const report = JSON.parse(run.stdout);
    const failed = report.cases.filter((c: { status: string }) => c.status !== 'passed');
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(run.code).toBe(0);
    expect(report).toMatchObject({ ok: true, failed: 0, skipped: 0 });
    // Every rule with an id in docs/dcr-rules.md has at least one case.
    const rules = await readFile(join(ROOT, 'docs', 'dcr-rules.md'), 'utf8');
    const ids = [...rules.matchAll(/^\| ([TEJSUDA]\d) \|/gm)].map((match) => match[1]);
    const covered = new Set(
      report.cases.flatMap((c: { rule: string }) => c.rule.match(/\b[TEJSUDA]\d\b/g) ?? []),
    );
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
    const xml = new XMLParser({ ignoreAttributes: false }).parse(await readFile(junit, 'utf8'));
    expect(xml.testsuites.testsuite['@_tests']).toBe(String(report.cases.length));
    expect(xml.testsuites.testsuite['@_failures']).toBe('0');
  }, 90_000);

  it('takes --target MANIFEST and refuses a --target that is neither a kind nor a file', async () => {
    const bad = await obkit('conformance', 'dcr', '--target', join(stateDir, 'no-such.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--target must be native, kubernetes, wso2 or an environment manifest file/);
    const usage = await obkit('conformance', 'suite');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Usage: obkit conformance dcr/);
  });
});

describe('help', () => {
  it('obkit --help names the commands, and each one’s --help carries the example docs/scripts.md shows', async () => {
    const top = await obkit('--help');
    expect(top.stdout).toMatch(/^ {2}conformance dcr {8}/m);
    expect(top.stdout).toMatch(/^ {2}dcr explain FILE\|- {5}/m);
    expect(top.stdout).toMatch(/--plan: what it would change, exit 2 on drift/);
    const docs = await readFile(join(ROOT, 'docs', 'scripts.md'), 'utf8');
    for (const [command, example] of [
      [['conformance', 'dcr'], 'obkit conformance dcr --junit reports/dcr-conformance.xml'],
      [['configure'], 'obkit configure --plan --json > plan.json'],
      [['dcr', 'explain'], 'obkit dcr explain'],
      [['smoke'], 'obkit smoke --junit'],
    ] as const) {
      const help = await obkit(...command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Example:\n  ${example}`);
      expect(docs).toContain(`npx ${example}`);
    }
  }, 30_000);
});

describe('obkit configure --plan', () => {
  it('exits 0 in sync, 2 with the diff after a change through the admin REST API, 0 again after configure', async () => {
    const inSync = await obkit('configure', '--plan', '--state-dir', stateDir);
    expect(inSync.code, inSync.stderr).toBe(0);
    expect(inSync.stdout).toMatch(/^= leave key manager OBKM as configured/m);
    expect(inSync.stdout).toMatch(/in sync: configure would change nothing/);

    const target = await resolveTarget({ 'state-dir': stateDir });
    const admin = new AdminApi(managementSession(target));
    const obkm = (await admin.listKeyManagers()).find((km) => km.name === 'OBKM')!;
    const current = await admin.getKeyManager(obkm.id!);
    await admin.updateKeyManager(obkm.id!, {
      ...current,
      enabled: false,
      introspectionEndpoint: 'https://elsewhere.example/oauth2/introspect',
    });

    const drift = await obkit('configure', '--plan', '--json', '--state-dir', stateDir);
    expect(drift.code, drift.stderr).toBe(2);
    const plan = JSON.parse(drift.stdout);
    expect(plan).toMatchObject({ ok: true, inSync: false });
    expect(plan.changes).toEqual([
      {
        step: 'configure-key-manager',
        action: 'update',
        subject: 'key manager OBKM',
        fields: ['introspectionEndpoint', 'enabled'],
      },
    ]);
    // --plan changed nothing.
    expect((await admin.getKeyManager(obkm.id!)).enabled).toBe(false);
    const readable = await obkit('configure', '--plan', '--state-dir', stateDir);
    expect(readable.code).toBe(2);
    expect(readable.stdout).toMatch(/^~ update key manager OBKM \(introspectionEndpoint, enabled\)/m);
    expect(readable.stdout).toMatch(/drift: configure would make 1 change\(s\)/);

    const applied = await obkit('configure', '--no-smoke', '--state-dir', stateDir);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/configure-key-manager: updated/);
    expect((await obkit('configure', '--plan', '--state-dir', stateDir)).code).toBe(0);
  }, 60_000);
});

describe('obkit dcr explain', () => {
  let register: SandboxRegister;
  let config: Config;
  let key: SigningKey;
  let product: SoftwareProduct;
  let twoHosts: SoftwareProduct;
  const request = async (claims: Record<string, unknown> = {}, on = product, signer = key) =>
    registrationRequest({
      ssa: await on.ssa(),
      softwareId: on.softwareId,
      audience: `${config.obkit.identity_server.url}/oauth2/token`,
      key: signer,
      claims,
    });
  const firstFailure = async (jwt: string, with_ = config) => {
    const explanation = await explainRegistration(jwt, with_);
    return { explanation, failed: explanation.rules.find((rule) => rule.status === 'failed') };
  };

  beforeAll(async () => {
    const target = await resolveTarget({ 'state-dir': stateDir });
    config = (await explainConfig({ 'state-dir': stateDir })).config;
    register = new SandboxRegister({
      url: target.manifest.mockRegister!.url,
      ca: target.ca,
      transport: target.clientCertificate!,
      admin: target.registerAdmin,
    });
    key = await newSigningKey('PS256');
    product = await register.createProduct({ keys: [key] });
    twoHosts = await register.createProduct({
      keys: [key],
      redirectUris: (site) => [`${site}/cb`, 'https://other.recipient.obkit.example/cb'],
    });
  });
  afterAll(() => register?.close());

  it('accepts a conforming request, every offline rule passed and the database ones named', async () => {
    const { explanation, failed } = await firstFailure(await request());
    expect(failed).toBeUndefined();
    expect(explanation.verdict).toBe('accepted');
    expect(explanation.rules.filter((rule) => rule.status === 'passed').map((rule) => rule.rule)).toEqual([
      'J1',
      'S1 S2',
      'J2',
      'J3 J4 J5 J6 J8',
      'U1',
      'U2',
    ]);
    expect(explanation.rules.find((rule) => rule.rule === 'J7')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/database/),
      keys: [{ key: 'open_banking_cds.dcr.request_jti_validation_enabled', value: true }],
    });
  });

  const bad: [string, () => Promise<string>, string, string, string | undefined][] = [
    [
      'alg none',
      async () => unsecured(claimsOf(await request())),
      'J1',
      'invalid_client_metadata',
      undefined,
    ],
    [
      'another audience',
      () => request({ aud: 'https://other.example/oauth2/token' }),
      'J3 J4 J5 J6 J8',
      'invalid_client_metadata',
      'open_banking.dcr.registration.audience',
    ],
    [
      'expired',
      () => request({ iat: 1_000, exp: 2_000 }),
      'J3 J4 J5 J6 J8',
      'invalid_client_metadata',
      'open_banking_cds.dcr.clock_skew_seconds',
    ],
    [
      'client_secret_basic',
      () => request({ token_endpoint_auth_method: 'client_secret_basic' }),
      'J3 J4 J5 J6 J8',
      'invalid_client_metadata',
      'open_banking.dcr.registration.token_endpoint_authentication',
    ],
    [
      'unattested redirect URI',
      () => request({ redirect_uris: ['https://attacker.example/cb'] }),
      'U1',
      'invalid_redirect_uri',
      undefined,
    ],
    [
      'tampered SSA',
      async () => request({ software_statement: tampered(await product.ssa()) }),
      'S1 S2',
      'invalid_software_statement',
      'open_banking.dcr.jwks_url_sandbox',
    ],
    [
      'unknown signing key',
      async () => request({}, product, await newSigningKey('PS256')),
      'J2',
      'invalid_client_metadata',
      'open_banking.dcr.jwks_retriever',
    ],
    [
      'redirect URIs on two hosts',
      () => request({}, twoHosts),
      'U2',
      'invalid_client_metadata',
      'open_banking_cds.dcr.enable_redirect_uri_hostname_validation',
    ],
  ];
  it.each(bad)('names the failing rule for %s', async (_name, build, rule, error, configKey) => {
    const { explanation, failed } = await firstFailure(await build());
    expect(explanation.verdict).toBe('refused');
    expect(failed?.rule).toBe(rule);
    expect(explanation.refusal).toMatchObject({ status: 400, error });
    if (configKey) expect(failed?.keys.map((entry) => entry.key)).toContain(configKey);
  });

  it('goes on past a failed SSA on its unverified claims, and follows the configuration given', async () => {
    const { explanation } = await firstFailure(
      await request({ software_statement: tampered(await twoHosts.ssa()) }, twoHosts),
    );
    expect(explanation.rules.find((rule) => rule.rule === 'U2')).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/on the SSA's unverified claims/),
    });
    const off = {
      ...config,
      open_banking_cds: {
        dcr: { ...config.open_banking_cds.dcr, enable_redirect_uri_hostname_validation: false },
      },
    } as Config;
    const { explanation: relaxed } = await firstFailure(await request({}, twoHosts), off);
    expect(relaxed.verdict).toBe('accepted');
    expect(relaxed.rules.find((rule) => rule.rule === 'U2')).toMatchObject({
      status: 'skipped',
      detail: 'open_banking_cds.dcr.enable_redirect_uri_hostname_validation = false',
    });
  });

  it('as a command: reads stdin or a file, compares the answer received, exits 1 on a refusal', async () => {
    const file = join(stateDir, 'bad-request.jwt');
    await writeFile(file, await request({ aud: 'https://other.example/oauth2/token' }));
    const answer = join(stateDir, 'answer.json');
    await writeFile(
      answer,
      JSON.stringify({ error: 'invalid_client_metadata', error_description: 'Invalid audience provided' }),
    );
    const run = await obkit('dcr', 'explain', file, '--answer', answer, '--state-dir', stateDir);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/^✗ J3 J4 J5 J6 J8 .*: failed — Invalid audience provided$/m);
    expect(run.stdout).toMatch(
      /open_banking\.dcr\.registration\.audience = \["https:\/\/localhost:\d+\/oauth2\/token"\]/,
    );
    expect(run.stdout).toMatch(
      /verdict: refused — HTTP 400 invalid_client_metadata: Invalid audience provided/,
    );
    expect(run.stdout).toMatch(
      /answer received: invalid_client_metadata: Invalid audience provided — agrees/,
    );

    const good = join(stateDir, 'good-request.jwt');
    await writeFile(good, await request());
    const duplicate = join(stateDir, 'duplicate.json');
    await writeFile(
      duplicate,
      JSON.stringify({
        error: 'invalid_client_metadata',
        error_description: 'Duplicate registrations for a given software_id are not valid',
      }),
    );
    const piped = await new Promise<Run>((resolve) => {
      const child = execFile(
        process.execPath,
        [OBKIT, 'dcr', 'explain', '-', '--answer', duplicate, '--json', '--state-dir', stateDir],
        { cwd: ROOT, env: { ...process.env, OBKIT_CONFIG: '' } },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      readFile(good, 'utf8').then((jwt) => child.stdin!.end(jwt));
    });
    expect(piped.code, piped.stderr).toBe(0);
    const json = JSON.parse(piped.stdout);
    expect(json).toMatchObject({ ok: true, verdict: 'accepted', answer: { agrees: false } });
    expect(json.answer.note).toMatch(/J7, D1, T1/);
  }, 30_000);
});

describe('obkit smoke --junit', () => {
  it('writes one test case per check when it passes, and the failure with its check when it fails', async () => {
    const passed = join(stateDir, 'reports', 'smoke.xml');
    const run = await obkit('smoke', '--junit', passed, '--state-dir', stateDir);
    expect(run.code, run.stderr).toBe(0);
    const parser = new XMLParser({ ignoreAttributes: false });
    const suite = parser.parse(await readFile(passed, 'utf8')).testsuites.testsuite;
    expect(suite).toMatchObject({ '@_name': 'obkit smoke', '@_failures': '0' });
    const names = suite.testcase.map((testCase: { '@_name': string }) => testCase['@_name']);
    expect(names.length).toBeGreaterThanOrEqual(8);
    expect(names).toContainEqual(expect.stringMatching(/^registered through the gateway: 201/));
    expect(names).toContain('DELETE /register/{ClientId}: 204, then GET 401');
    // The sandbox journey after registration: consent, data through the gateway, revocation.
    expect(names).toContain(
      'GET /cds-au/v1/banking/accounts through the gateway: 200, only the consented account',
    );
    expect(names).toContain('arrangement revoked by the recipient: 204, then the gateway answers 401');

    // An SSA the Register did not sign: the registration check fails, and the report says so.
    const target = await resolveTarget({ 'state-dir': stateDir });
    const register = new SandboxRegister({
      url: target.manifest.mockRegister!.url,
      ca: target.ca,
      transport: target.clientCertificate!,
      admin: target.registerAdmin,
    });
    const key = await newSigningKey('PS256');
    const product = await register.createProduct({ keys: [key] });
    await writeFile(join(stateDir, 'forged-ssa.jwt'), tampered(await product.ssa()));
    await register.close();
    const { exportJWK } = await import('jose');
    await writeFile(
      join(stateDir, 'signing-key.json'),
      JSON.stringify({ ...(await exportJWK(key.privateKey)), kid: key.kid, alg: key.alg }),
    );
    const failed = join(stateDir, 'reports', 'smoke-failed.xml');
    const refused = await obkit(
      'smoke',
      '--ssa',
      join(stateDir, 'forged-ssa.jwt'),
      '--signing-key',
      join(stateDir, 'signing-key.json'),
      '--junit',
      failed,
      '--state-dir',
      stateDir,
    );
    expect(refused.code).toBe(1);
    const failure = parser.parse(await readFile(failed, 'utf8')).testsuites.testsuite;
    expect(failure).toMatchObject({ '@_failures': '1' });
    expect(failure.testcase.failure['@_message']).toMatch(
      /smoke test failed at "register": HTTP 400 .*invalid_software_statement/,
    );
  }, 60_000);
});

describe('obkit conformance dcr against a misconfigured stack', () => {
  it('fails when request_jti_validation_enabled is off, naming the rule, the request and the answer', async () => {
    await writeFile(configFile, `${toml}\n[open_banking_cds.dcr]\nrequest_jti_validation_enabled = false\n`);
    const before = (await upLock()).processes['identity-server']!;
    process.kill(before.pid, 'SIGTERM');
    await expect
      .poll(
        async () => {
          const now = (await upLock()).processes['identity-server']!;
          if (now.pid === before.pid || now.state !== 'running') return false;
          return (await obkit('status', '--state-dir', stateDir)).code === 0;
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe(true);

    const run = await obkit('conformance', 'dcr', '--target', join(stateDir, 'environment.json'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/✗ jti\.replay: /);
    expect(run.stdout).toMatch(/rule: J7 a request jti is used once \(docs\/dcr-rules\.md\)/);
    expect(run.stdout).toMatch(
      /request: POST https:\/\/localhost:\d+\/open-banking\/0\.2\/register; certificate: the recipient transport certificate; content-type: application\/jwt; body: another product's request reusing jti/,
    );
    expect(run.stdout).toMatch(/answer: {2}HTTP 201/);
    expect(run.stdout).toMatch(/expected HTTP 400 invalid_client_metadata, got HTTP 201/);
    // Only that rule fails: the report says which one to fix.
    expect(run.stdout.match(/^✗ /gm)).toHaveLength(1);
  }, 150_000);
});
