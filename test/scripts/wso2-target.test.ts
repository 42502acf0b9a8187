import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSandboxPki, type SandboxPki } from '../../lib/pki/index.ts';
import { fingerprint, fingerprintKey } from '../../scripts/lib/fingerprint.ts';
import { serviceHealth } from '../../scripts/lib/health.ts';
import { restartServices } from '../../scripts/lib/restart.ts';
import { resolveTarget, type TargetFlags, truststoreFormat } from '../../scripts/lib/target.ts';

/** `--target wso2` as a WSO2 user gives it: flags, status probes, the restart step, fingerprint keys. */

let dir: string;
let pki: SandboxPki;
let wso2: { server: Server; url: string; healthCheck: number };
const env = { OBKIT_ADMIN_PASSWORD: 'admin-password' } as NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'obkit-wso2-target-'));
  pki = await ensureSandboxPki(join(dir, 'pki'));
  // A stand-in for a WSO2 server (none can run here): the paths WSO2 documents for health checks.
  const server = createServer(
    { cert: await readFile(pki.serverCertificate), key: await readFile(pki.serverKey) },
    (req, res) => {
      if (req.url === '/services/Version')
        res
          .writeHead(200, { 'content-type': 'text/xml' })
          .end(
            '<ns:getVersionResponse xmlns:ns="http://version.services.core.carbon.wso2.org"><return>WSO2 API Manager-4.2.0</return></ns:getVersionResponse>',
          );
      else if (req.url === '/api/health-check/v1.0/health' && wso2.healthCheck !== 404)
        res.writeHead(wso2.healthCheck, { 'content-type': 'application/json' }).end('{"health":[]}');
      else res.writeHead(404).end();
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  wso2 = { server, url: `https://localhost:${(server.address() as AddressInfo).port}`, healthCheck: 404 };
});

afterAll(async () => {
  wso2?.server.close();
  await rm(dir, { recursive: true, force: true });
});

const flags = (extra: TargetFlags = {}): TargetFlags => ({
  target: 'wso2',
  apim: wso2.url,
  is: wso2.url,
  gateway: wso2.url,
  ca: pki.caBundle,
  'state-dir': join(dir, 'state'),
  ...extra,
});

describe('--target wso2 flags', () => {
  it('default to WSO2: gateway environment Default, the gateway host as vhost, client-truststore.jks', async () => {
    const target = await resolveTarget(flags(), env);
    expect(target.manifest.gateway).toEqual({ url: wso2.url, vhost: 'localhost' });
    expect(target.manifest.truststore).toEqual({
      format: 'jks',
      path: join(process.cwd(), 'client-truststore.jks'),
    });
    expect(target.truststorePassword).toBe('wso2carbon');
  });

  it('name the environment, vhost, Register and restart command', async () => {
    const target = await resolveTarget(
      flags({
        vhost: 'api.bank.example',
        'gateway-environment': 'cdr-external',
        register: 'https://register.example:7000/',
        'restart-command': 'systemctl restart wso2am wso2is',
      }),
      { ...env, OBKIT_REGISTER_ADMIN_PASSWORD: 'register-password' },
    );
    expect(target.manifest.gateway).toMatchObject({ vhost: 'api.bank.example', environment: 'cdr-external' });
    expect(target.manifest.mockRegister).toEqual({ url: 'https://register.example:7000' });
    expect(target.registerAdmin).toEqual({ username: 'admin', password: 'register-password' });
    expect(target.manifest.restartCommand).toBe('systemctl restart wso2am wso2is');
  });

  it('refuse a vhost or environment name WSO2 would reject', async () => {
    await expect(resolveTarget(flags({ vhost: 'api bank' }), env)).rejects.toThrow(
      /--vhost must be a host name/,
    );
    await expect(resolveTarget(flags({ vhost: '-bad.example' }), env)).rejects.toThrow(/--vhost/);
    await expect(resolveTarget(flags({ 'gateway-environment': 'cdr external' }), env)).rejects.toThrow(
      /--gateway-environment must be letters, digits/,
    );
  });

  it('read the truststore format from its name', () => {
    expect(truststoreFormat('/opt/wso2am/repository/resources/security/client-truststore.jks')).toBe('jks');
    expect(truststoreFormat('trust.P12')).toBe('pkcs12');
    expect(truststoreFormat('bundle.pem')).toBe('pem');
  });
});

describe('obkit status against WSO2', () => {
  it("asks WSO2's Version service when the Health Check API is not deployed", async () => {
    wso2.healthCheck = 404;
    const result = await serviceHealth(await resolveTarget(flags(), env));
    expect(result.data?.down).toBeUndefined();
    expect(result.actions.join('\n')).toMatch(/api-manager\s+UP .*WSO2 API Manager-4\.2\.0/);
    expect(result.actions.join('\n')).toMatch(/gateway\s+UP .*answered HTTP 404/);
  });

  it('reports a server whose Health Check API answers 503 as down', async () => {
    wso2.healthCheck = 503;
    const result = await serviceHealth(await resolveTarget(flags(), env));
    expect(result.data?.down).toEqual(['identity-server', 'api-manager']);
    expect(result.actions.join('\n')).toMatch(/identity-server\s+DOWN .*health check API: HTTP 503/);
  });

  it('reports a server that does not answer as down', async () => {
    wso2.healthCheck = 404;
    const result = await serviceHealth(
      await resolveTarget(flags({ apim: 'https://127.0.0.1:1', is: wso2.url, gateway: wso2.url }), env),
    );
    expect(result.data?.down).toEqual(['api-manager']);
  });
});

describe('the restart step for WSO2', () => {
  it('prints what to restart when not told how', async () => {
    const result = await restartServices(await resolveTarget(flags(), env));
    expect(result.status).toBe('skipped');
    expect(result.actions.join('\n')).toMatch(/api-manager\.sh restart.*wso2server\.sh restart/s);
  });

  it('runs --restart-command, and fails with its output when it fails', async () => {
    const marker = join(dir, 'restarted');
    const ran = await restartServices(
      await resolveTarget(flags({ 'restart-command': `touch ${marker}` }), env),
    );
    expect(ran.status).toBe('updated');
    expect(existsSync(marker)).toBe(true);
    const failing = resolveTarget(flags({ 'restart-command': 'echo servers unreachable >&2; exit 3' }), env);
    await expect(restartServices(await failing)).rejects.toThrow(/exited 3: servers unreachable/);
  });

  it('prints the command on a dry run', async () => {
    const result = await restartServices(
      await resolveTarget(flags({ 'restart-command': 'restart-wso2' }), env),
      {
        dryRun: true,
      },
    );
    expect(result).toMatchObject({ status: 'skipped', actions: ['restart-wso2'] });
  });
});

describe('fingerprint keys', () => {
  it('come from OBKIT_FINGERPRINT_KEY, else a 0600 file in the state directory kept across runs', async () => {
    expect((await fingerprintKey(dir, { OBKIT_FINGERPRINT_KEY: 'k'.repeat(32) })).source).toBe('environment');
    const stateDir = join(dir, 'fingerprint-state');
    const first = await fingerprintKey(stateDir, {});
    expect(first.source).toBe('file');
    expect((await stat(join(stateDir, 'fingerprint.key'))).mode & 0o777).toBe(0o600);
    expect((await fingerprintKey(stateDir, {})).key.equals(first.key)).toBe(true);
    // Where no key can be kept (here: a state directory that cannot exist under a file), one for this run.
    expect((await fingerprintKey(join(pki.caBundle, 'state'), {})).source).toBe('ephemeral');
  });

  it('are HMACs: the same settings under another key give another fingerprint, and no hash of them alone', async () => {
    const settings = { Username: 'admin', Password: 'weak' };
    const one = await fingerprintKey(join(dir, 'one'), {});
    const two = await fingerprintKey(join(dir, 'two'), {});
    expect(fingerprint(one, settings)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(one, settings)).not.toBe(fingerprint(two, settings));
    const { createHash } = await import('node:crypto');
    const unkeyed = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    expect(unkeyed.startsWith(fingerprint(one, settings))).toBe(false);
  });
});
