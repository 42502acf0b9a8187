import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { chartDir, helmTemplate, type RenderedObject } from '../support/helm.ts';
import {
  PodRunner,
  type PodSpec,
  type PodRunner as Runner,
  type SecretFiles,
} from '../support/pod-runner.ts';

/**
 * The image as the chart runs it: `npm run image` builds it (buildah, local base where no registry
 * answers), then every Deployment of `helm template` (sandbox values: mock Register, embedded
 * databases) starts from it as uid 10001 with the rendered args, env and mounts, followed by the
 * chart's configure hook Job (`obkit configure`), its `helm test` Pod (`obkit smoke`, a real
 * registration through the gateway over mutual TLS) and its verification CronJob's pod. Afterwards the
 * containers' root filesystems must hold nothing the pods wrote: only /var/lib/obkit and /tmp (volumes)
 * took writes. Needs root, buildah and iproute2: `.ci/run` installs them and sets OBKIT_IMAGE_TEST=1.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const RELEASE = 'obkit';
const TAG = 'localhost/obkit:image-test';
const enabled = process.env.OBKIT_IMAGE_TEST === '1';
if (!enabled)
  console.log(
    'image test skipped: set OBKIT_IMAGE_TEST=1 to build and run the image (root, buildah; .ci/run does)',
  );

const exec = promisify(execFile);
let workDir: string;
let runner: Runner;
/** What each Deployment's pod printed, for the failure messages. */
const podOutput = new Map<string, () => string>();
let objects: RenderedObject[];
let buildLine = '';

// biome-ignore lint/suspicious/noExplicitAny: rendered objects are untyped YAML.
const find = (kind: string, name: string): any => {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!object) throw new Error(`${kind} ${name} not rendered`);
  return object;
};

async function buildImage(): Promise<string> {
  const child = spawn('npm', ['run', '--silent', 'image', '--', '--engine', 'buildah', '--tag', TAG], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`npm run image failed:\n${output.slice(-4000)}`);
  return output.trim().split('\n').at(-1) ?? '';
}

/** The gateway's own DCR backend credential, in the shape of the chart's `dcrBackend` Secret. */
function dcrBackend(password: string): Record<string, string> {
  const username = 'obkit-gateway';
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  return { username, password, 'obkit.dcr.backend.authorization': authorization };
}

/** The Secrets the chart expects, from a sandbox PKI made for the release's Service names. */
async function secretFiles(hostnames: string[]): Promise<SecretFiles> {
  const pki = await ensureSandboxPki(join(workDir, 'pki'), { hostnames });
  const read = (file: string) => readFile(file, 'utf8');
  const ca = await read(pki.caBundle);
  const name = (suffix: string) => `${RELEASE}-obkit-${suffix}`;
  return {
    [name('server-tls')]: {
      'tls.crt': await read(pki.serverCertificate),
      'tls.key': await read(pki.serverKey),
    },
    [name('truststore')]: { 'ca-bundle.pem': ca },
    [name('internal-ca')]: { 'ca.crt': await read(pki.internalCaCertificate) },
    [name('gateway-internal-client')]: {
      'tls.crt': await read(pki.gatewayInternalCertificate),
      'tls.key': await read(pki.gatewayInternalKey),
    },
    [name('banking-internal-client')]: {
      'tls.crt': await read(pki.bankingInternalCertificate),
      'tls.key': await read(pki.bankingInternalKey),
    },
    [name('admin')]: { username: 'admin', password: randomBytes(18).toString('base64url') },
    [name('encryption')]: { key: randomBytes(32).toString('base64') },
    [name('dcr-backend')]: dcrBackend(randomBytes(18).toString('base64url')),
    [name('server-ca')]: { 'ca.crt': ca },
    'obkit-sandbox-ca': { 'ca.crt': ca },
    [name('smoke-client')]: {
      'tls.crt': await read(pki.clientCertificate),
      'tls.key': await read(pki.clientKey),
    },
  };
}

beforeAll(async () => {
  if (!enabled) return;
  workDir = await mkdtemp(join(process.env.OBKIT_IMAGE_WORKDIR ?? tmpdir(), 'obkit-image-test-'));
  buildLine = await buildImage();
  console.log(`image: ${buildLine}`);
  objects = await helmTemplate(
    [join(chartDir, 'ci', 'sandbox-values.yaml')],
    [
      'image.repository=localhost/obkit',
      'image.tag=image-test',
      'image.pullPolicy=Never',
      `verification.smokeClientSecret=${RELEASE}-obkit-smoke-client`,
      'verification.configureHook.enabled=true',
      'verification.cronJob.enabled=true',
      'verification.cronJob.resultsClaim=verification-results',
    ],
    { release: RELEASE, namespace: 'obkit' },
  );
  const services = objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name);
  const hostname = 'sandbox.obkit.example';
  const configMaps = Object.fromEntries(
    objects
      .filter((o) => o.kind === 'ConfigMap')
      .map((o) => [o.metadata.name, o.data as Record<string, string>]),
  );
  runner = new PodRunner({
    image: TAG,
    namespace: `obkit-image-${process.pid}`,
    workDir,
    configMaps,
    secrets: await secretFiles([...services, hostname]),
    hostnames: [...services, hostname],
  });
  await runner.start();
  for (const deployment of objects.filter((o) => o.kind === 'Deployment'))
    podOutput.set(
      deployment.metadata.name,
      (await runner.spawn(deployment.metadata.name, (deployment.spec as PodSpec).template.spec)).output,
    );
}, 900_000);

afterAll(async () => {
  if (!enabled) return;
  await runner?.stop();
  await rm(workDir, { recursive: true, force: true });
}, 120_000);

describe.runIf(enabled)('the obkit image, run as the chart runs it', () => {
  it('is built with the pinned entrypoint, non-root user and its size reported', async () => {
    expect(buildLine).toMatch(/^localhost\/obkit:image-test: \d+(\.\d+)? [MG]B, built in \d+ s with buildah/);
    const { stdout } = await exec('buildah', ['inspect', '--type', 'image', TAG]);
    const { config } = (JSON.parse(stdout) as { OCIv1: { config: Record<string, unknown> } }).OCIv1;
    expect(config).toMatchObject({ User: '10001:10001', Entrypoint: ['node'], WorkingDir: '/app' });
  });

  it("configures the running components with the chart's configure hook Job (obkit configure)", async () => {
    const hook = find('Job', `${RELEASE}-obkit-configure`).spec.template.spec;
    // The components start in the background: wait until `obkit status` (same image, same mounts) says ready.
    const status = structuredClone(hook);
    status.containers[0].args = ['bin/obkit.ts', 'status', ...hook.containers[0].args.slice(-2)];
    let last = { code: null as number | null, output: '' };
    for (let attempt = 0; attempt < 40; attempt++) {
      last = await runner.complete(`status-${attempt}`, status, 60_000);
      if (last.code === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    expect(last.code, last.output).toBe(0);
    const configure = await runner.complete('configure', hook);
    expect(configure.code, configure.output).toBe(0);
    expect(configure.output).toMatch(/key-manager: (updated|unchanged)/);
    expect(configure.output).toMatch(/load-truststore: unchanged/);
    expect(configure.output).toMatch(/publish-banking-api: (updated|unchanged)/);
  }, 300_000);

  it("passes the chart's helm test (obkit smoke: a registration, then consent, data and revocation through the gateway)", async () => {
    const smoke = await runner.complete('smoke', find('Pod', `${RELEASE}-obkit-smoke-test`).spec);
    expect(smoke.code, smoke.output).toBe(0);
    expect(smoke.output).toMatch(/registered through the gateway: 201/);
    expect(smoke.output).toMatch(/DELETE \/register\/\{ClientId\}: 204/);
    // The sandbox release deploys banking, so the smoke goes on through consent, data and revocation.
    expect(smoke.output).toMatch(/arrangement revoked by the recipient: 204, then the gateway answers 401/);
  }, 300_000);

  it("runs the verification CronJob's pod: JSON result, JUnit report and the last-success metric", async () => {
    const cron = find('CronJob', `${RELEASE}-obkit-verification`).spec.jobTemplate.spec.template.spec;
    const verification = await runner.complete('verification', cron);
    expect(verification.code, verification.output).toBe(0);
    expect(JSON.parse(verification.output.slice(verification.output.indexOf('{')))).toMatchObject({
      ok: true,
    });
    const results = join(workDir, 'pods', 'verification', 'results');
    expect(await readFile(join(results, 'smoke.junit.xml'), 'utf8')).toMatch(
      /<testsuite name="obkit smoke"[^>]* failures="0"/,
    );
    expect(await readFile(join(results, 'smoke.prom'), 'utf8')).toMatch(
      /^obkit_smoke_last_success_timestamp_seconds \d+/m,
    );
  }, 300_000);

  it("wrote only to /var/lib/obkit and /tmp: the containers' root filesystems are untouched", async () => {
    expect(await runner.writtenPaths()).toEqual([]);
    const identityServer = `${RELEASE}-obkit-identity-server`;
    const identityState = join(workDir, 'pods', identityServer, 'state');
    expect(
      existsSync(identityState) && (await readdir(identityState, { recursive: true })),
      podOutput.get(identityServer)?.().slice(-4000),
    ).toContain(join('data', 'identity-server', 'PG_VERSION'));
  });
});
