import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../scripts/lib/api-client/http.ts';
import { ManagementSession } from '../../scripts/lib/api-client/management-session.ts';
import { PublisherApi } from '../../scripts/lib/api-client/publisher.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { type RecordingProxy, startRecordingProxy } from '../support/recording-proxy.ts';
import { type ScriptCall, scriptCalls } from '../support/script-calls.ts';
import { describeViolations, type Exchange, Wso2Contract } from '../support/wso2-contract.ts';

/**
 * The scripts against WSO2's own management API contract (apis/wso2-management/openapi.yaml): the real
 * `obkit configure` and `scripts/publish-dcr-api.ts`, run as a WSO2 user runs them (`--target wso2`),
 * talk to obkit's api-manager through a recording proxy. Every request they send must be one WSO2
 * accepts, every answer api-manager gives must have WSO2's shape, and every management call written in
 * scripts/ must be a contract operation this run exercised.
 */

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
let apim: RunningApiManager;
let proxy: RecordingProxy;
let contract: Wso2Contract;
let dir: string;

/** A script run as a user runs it: its own process, flags and environment, the API manager behind the proxy. */
async function script(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(ROOT, file), ...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      OBKIT_ADMIN_PASSWORD: apim.config.obkit.admin.password,
      OBKIT_IS_ADMIN_PASSWORD: 'is-admin-password',
      OBKIT_FINGERPRINT_KEY: 'contract-test-fingerprint-key-0123456789',
    },
  });
}

const target = (vhost: string) => [
  '--target',
  'wso2',
  '--apim',
  proxy.url,
  '--is',
  'https://is.example.com:9446',
  '--gateway',
  'https://gateway.example.com:8243',
  '--ca',
  apim.pki.caBundle,
  '--vhost',
  vhost,
  '--gateway-environment',
  'Default',
  '--state-dir',
  join(dir, 'state'),
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-contract-'));
  // Its `Default` gateway environment serves these vhosts: the gateway's host, its own host and localhost.
  apim = await startApiManager({
    overrides: {
      obkit: { hostname: 'apim.example.com', gateway: { url: 'https://gateway.example.com:8243' } },
    },
  });
  proxy = await startRecordingProxy(`https://localhost:${new URL(apim.url).port}`, apim.pki);
  contract = await Wso2Contract.load();
  // configure: key managers, the DCR API, the truststore (PKCS12), the restart the operator told it.
  await script('bin/obkit.ts', [
    'configure',
    '--no-smoke',
    '--trust',
    apim.pki.caBundle,
    '--truststore',
    join(dir, 'client-truststore.p12'),
    '--restart-command',
    `touch ${join(dir, 'restarted')}`,
    ...target('gateway.example.com'),
  ]);
  // A re-run reads everything back. With WSO2's five revisions reached (fillers made by the scripts' own
  // client, through the proxy too), publishing to another vhost rotates the oldest undeployed one.
  await script('bin/obkit.ts', ['configure', '--no-smoke', ...target('gateway.example.com')]);
  const publisher = new PublisherApi(
    new ManagementSession(
      new HttpClient({ baseUrl: proxy.url, tls: { ca: await readFile(apim.pki.caBundle, 'utf8') } }),
      {
        username: 'admin',
        password: apim.config.obkit.admin.password,
      },
    ),
  );
  const api = (await publisher.findApi('CDRDynamicClientRegistrationAPI', '0.2'))!;
  for (let n = (await publisher.listRevisions(api.id)).length; n < 5; n++)
    await publisher.createRevision(api.id, `filler ${n}`);
  await script('scripts/publish-dcr-api.ts', target('apim.example.com'));
}, 240_000);

afterAll(async () => {
  await proxy?.close();
  await apim?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the scripts against the WSO2 management contract', () => {
  it('sent only requests WSO2 accepts', async () => {
    expect(proxy.exchanges.length).toBeGreaterThan(20);
    const violations = (await Promise.all(proxy.exchanges.map((e) => contract.validateRequest(e)))).flat();
    expect(describeViolations(violations)).toBe('');
  });

  it("got only answers of WSO2's shape from api-manager", () => {
    const violations = proxy.exchanges.flatMap((e) => contract.validateResponse(e));
    expect(describeViolations(violations)).toBe('');
  });

  it('covers every management call written in scripts/, each exercised by the run', async () => {
    const calls = await scriptCalls();
    const exercised = new Set(proxy.exchanges.map((e) => contract.match(e.method, e.url)?.operationId));
    const rows = calls.filter((call) => call.management).map((call) => coverage(call, exercised));
    console.log(
      `WSO2 management operations the scripts call (contract: apis/wso2-management/openapi.yaml):\n${rows
        .map((row) => `  ${row.covered ? '✓' : '✗'} ${row.operation.padEnd(36)} ${row.call}`)
        .join(
          '\n',
        )}\nOther HTTP calls in scripts/ (identity server OIDC, the gateway's CDR DCR API, health):\n${calls
        .filter((call) => !call.management)
        .map((call) => `    ${call.method} ${call.path}  (${call.caller}, ${call.site})`)
        .join('\n')}`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(17);
    expect(rows.filter((row) => !row.covered).map((row) => `${row.call}: ${row.operation}`)).toEqual([]);
    // Every contract operation is one the scripts call: the contract records nothing else.
    const called = new Set(rows.map((row) => row.operation));
    expect(contract.operations().filter((op) => !called.has(op.operationId))).toEqual([]);
  });

  it('ran the restart the operator gave for WSO2 after the truststore changed', async () => {
    expect(existsSync(join(dir, 'restarted'))).toBe(true);
    expect((await readFile(join(dir, 'client-truststore.p12'))).length).toBeGreaterThan(0);
  });
});

describe('a request WSO2 would reject fails, naming the operation and the field', () => {
  const recorded = (operationId: string) => {
    const exchange = proxy.exchanges.find(
      (e) => contract.match(e.method, e.url)?.operationId === operationId,
    );
    if (!exchange) throw new Error(`no ${operationId} was recorded`);
    return exchange;
  };
  const withJson = (exchange: Exchange, edit: (body: never) => unknown): Exchange => ({
    ...exchange,
    requestBody: Buffer.from(JSON.stringify(edit(JSON.parse(exchange.requestBody.toString()) as never))),
  });

  it('a vhost that is no host name', async () => {
    const bad = withJson(recorded('deployAPIRevision'), (body: { vhost: string }[]) =>
      body.map((d) => ({ ...d, vhost: 'gateway example' })),
    );
    expect(await contract.validateRequest(bad)).toEqual([
      expect.objectContaining({ operation: 'deployAPIRevision', field: 'body.0.vhost' }),
    ]);
  });

  it('a lifecycle action WSO2 does not know', async () => {
    const exchange = recorded('changeAPILifecycle');
    const bad = { ...exchange, url: exchange.url.replace('action=Publish', 'action=publish') };
    expect(await contract.validateRequest(bad)).toEqual([
      expect.objectContaining({ operation: 'changeAPILifecycle', field: 'query.action' }),
    ]);
  });

  it('a key manager without a type', async () => {
    const bad = withJson(recorded('addNewKeyManager'), ({ type: _type, ...rest }: { type: string }) => rest);
    expect(await contract.validateRequest(bad)).toEqual([
      expect.objectContaining({ operation: 'addNewKeyManager', field: 'body.type' }),
    ]);
  });

  it('an import whose additionalProperties lack the endpoint', async () => {
    const exchange = recorded('importOpenAPIDefinition');
    const form = await new Response(new Uint8Array(exchange.requestBody), {
      headers: { 'content-type': exchange.requestHeaders['content-type']! },
    }).formData();
    const properties = JSON.parse(String(form.get('additionalProperties')));
    delete properties.endpointConfig;
    form.set('additionalProperties', JSON.stringify(properties));
    const request = new Request('https://contract.invalid/', { method: 'POST', body: form });
    const bad = {
      ...exchange,
      requestHeaders: { ...exchange.requestHeaders, 'content-type': request.headers.get('content-type')! },
      requestBody: Buffer.from(await request.arrayBuffer()),
    };
    expect(await contract.validateRequest(bad)).toEqual([
      expect.objectContaining({
        operation: 'importOpenAPIDefinition',
        field: 'form.additionalProperties.endpointConfig',
      }),
    ]);
  });

  it('a call outside the contract', async () => {
    const exchange = recorded('getAllAPIs');
    const violations = await contract.validateRequest({
      ...exchange,
      url: '/api/am/publisher/v4/api-products',
    });
    expect(violations).toEqual([expect.objectContaining({ field: 'path' })]);
  });

  it('the script itself refuses a vhost WSO2 would reject, before calling anything', async () => {
    const before = proxy.exchanges.length;
    const failure = await script('scripts/publish-dcr-api.ts', target('gateway example')).catch((e) => e);
    expect(String(failure.stderr ?? failure)).toMatch(/--vhost must be a host name/);
    expect(proxy.exchanges.length).toBe(before);
  });
});

function coverage(call: ScriptCall, exercised: Set<string | undefined>) {
  const operation = contract.match(call.method, call.path.replaceAll('{}', 'x'))?.operationId;
  return {
    call: `${call.method} ${call.path} (${call.site})`,
    operation: operation ?? '(not in the contract)',
    covered: Boolean(operation && exercised.has(operation)),
  };
}
