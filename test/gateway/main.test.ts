import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSnapshotFile } from '../../services/gateway/feed.ts';
import {
  apiEntry,
  call,
  clientOf,
  createTestState,
  issueClient,
  snapshotOf,
  type TestState,
} from '../support/gateway.ts';

const MAIN = new URL('../../services/gateway/main.ts', import.meta.url).pathname;

let state: TestState;

beforeAll(async () => {
  state = await createTestState();
});
afterAll(async () => {
  await state?.cleanup();
});

function start(configFile: string): ChildProcess {
  return spawn(process.execPath, [MAIN, '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', OBKIT_ADMIN_PASSWORD: 'main-test-password' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

async function writeConfig(name: string, toml: string): Promise<string> {
  const file = join(state.dir, name);
  await writeFile(file, toml);
  return file;
}

describe('gateway main', () => {
  it('refuses to start with a message naming the bad key', async () => {
    const file = await writeConfig(
      'bad.toml',
      `[obkit]\nstate_dir = "${state.dir}"\n[obkit.gateway]\nport = "eighty"\n`,
    );
    const { code, stderr } = await exited(start(file));
    expect(code).toBe(2);
    expect(stderr).toContain('obkit.gateway.port');
  });

  it('refuses to start in production with a server key that cannot serve the FAPI TLS 1.2 suites, naming it', async () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const keyFile = join(state.dir, 'ec-server.key');
    await writeFile(keyFile, ecKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const file = await writeConfig(
      'production-ec.toml',
      [
        '[obkit]',
        'mode = "production"',
        `state_dir = "${state.dir}"`,
        '[obkit.tls]',
        `private_key = "${keyFile}"`,
        `certificate = "${state.pki.serverCertificate}"`,
        `truststore = "${state.pki.truststore}"`,
        `internal_ca = "${state.pki.internalCaCertificate}"`,
        `internal_client_certificate = "${state.pki.gatewayInternalCertificate}"`,
        `internal_client_key = "${state.pki.gatewayInternalKey}"`,
        '[obkit.gateway]',
        'port = 0',
        '[obkit.api_manager]',
        'url = "https://localhost:1"',
      ].join('\n'),
    );
    const { code, stderr } = await exited(start(file));
    expect(code).toBe(2);
    expect(stderr).toContain(`obkit.tls.private_key: ${keyFile}: an EC (prime256v1) key cannot serve`);
  });

  it('refuses to start when a TLS file is missing, naming it', async () => {
    const file = await writeConfig(
      'missing.toml',
      `[obkit]\nstate_dir = "${state.dir}"\n[obkit.tls]\ntruststore = "${state.dir}/nowhere.pem"\n`,
    );
    const { code, stderr } = await exited(start(file));
    expect(code).toBe(2);
    expect(stderr).toContain('obkit.tls.truststore');
  });

  it('serves its disk snapshot without api-manager, logs access lines without secrets and stops on SIGTERM', async () => {
    await mkdir(join(state.dir, 'gateway'), { recursive: true });
    await writeSnapshotFile(
      join(state.dir, 'gateway', 'snapshot.json'),
      snapshotOf({
        apis: [
          apiEntry('Ping', '/ping/v1', 'https://localhost:1', [{ target: '/x', verb: 'GET', auth: 'None' }]),
        ],
      }),
    );
    const file = await writeConfig(
      'good.toml',
      [
        '[obkit]',
        `state_dir = "${state.dir}"`,
        'log_level = "info"',
        '[obkit.gateway]',
        'port = 0',
        '[obkit.api_manager]',
        'url = "https://localhost:1"',
      ].join('\n'),
    );
    const child = start(file);
    const done = exited(child);
    let stdout = '';
    const [url, management] = await new Promise<string[]>((resolve, reject) => {
      child.stdout!.on('data', (chunk) => {
        stdout += chunk;
        const match =
          /"url":"(https:\/\/[^"]+)","management":"(https:\/\/[^"]+)".*"msg":"gateway listening"/.exec(
            stdout,
          );
        if (match) resolve([match[1]!, match[2]!]);
      });
      child.on('exit', () => reject(new Error(`exited early: ${stdout}`)));
    });
    const probe = clientOf(undefined, state.caBundle);
    const recipient = clientOf(await issueClient(state.issuing, 'main-adr'), state.caBundle);
    try {
      const ready = await call(probe, `${management}/health/ready`);
      expect(ready.status).toBe(200);
      // The backend of the disk snapshot is down: a 502, logged.
      const proxied = await call(recipient, `${url}/ping/v1/x?q=1`, {
        headers: { authorization: 'Bearer secret-token-value' },
      });
      expect(proxied.status).toBe(502);
    } finally {
      await probe.close();
      await recipient.close();
    }
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
    const access = stdout.split('\n').filter((line) => line.includes('"log":"access"'));
    expect(access).toHaveLength(1);
    expect(JSON.parse(access[0]!)).toMatchObject({
      method: 'GET',
      path: '/ping/v1/x',
      status: 502,
      api: 'Ping',
    });
    expect(stdout).not.toContain('secret-token-value');
  });
});
