import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSnapshotFile } from '../../services/gateway/feed.ts';
import { apiEntry, call, clientOf, createTestState, snapshotOf, type TestState } from './support.ts';

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

  it('refuses to start when a TLS file is missing, naming it', async () => {
    const file = await writeConfig(
      'missing.toml',
      `[obkit]\nstate_dir = "${state.dir}"\n[obkit.tls]\ntruststore = "${state.dir}/nowhere.pem"\n`,
    );
    const { code, stderr } = await exited(start(file));
    expect(code).toBe(2);
    expect(stderr).toContain('obkit.tls.truststore');
  });

  it('serves its disk snapshot without api-manager and stops cleanly on SIGTERM', async () => {
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
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout!.on('data', (chunk) => {
        stdout += chunk;
        const match = /"url":"(https:\/\/[^"]+)".*"msg":"gateway listening"/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.on('exit', () => reject(new Error(`exited early: ${stdout}`)));
    });
    const probe = clientOf(undefined, state.caBundle);
    try {
      const ready = await call(probe, `${url}/health/ready`);
      expect(ready.status).toBe(200);
    } finally {
      await probe.close();
    }
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });
});
