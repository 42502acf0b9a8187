import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { basicHeader } from '../../services/api-manager/auth/credentials.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';

/**
 * api-manager's admin Basic (client registration) and admin password grant share one lockout: after
 * repeated bad passwords the account is refused with 429 + Retry-After, even with the right password,
 * until the lockout ends (the clock is moved, not waited for). The lockout is logged once, without a
 * password.
 */

let apim: RunningApiManager;
const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  apim = await startApiManager({
    overrides: {
      obkit: { limits: { admin_lockout: { max_failures: 3, window_seconds: 60, lockout_seconds: 30 } } },
    },
  });
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});
afterAll(async () => {
  vi.useRealTimers();
  await apim?.stop();
});

describe('admin lockout on api-manager', () => {
  it('locks the admin after repeated bad passwords on either surface, for the lockout only', async () => {
    const admin = apim.config.obkit.admin;
    const register = (password: string) =>
      apim.call('POST', '/client-registration/v0.17/register', {
        headers: { authorization: basicHeader(admin.username, password) },
        json: { clientName: 'lockout-test', grantType: 'password client_credentials' },
      });
    const client = (await register(admin.password)).body as { clientId: string; clientSecret: string };
    const passwordGrant = (password: string) =>
      apim.call('POST', '/oauth2/token', {
        headers: {
          authorization: basicHeader(client.clientId, client.clientSecret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'password', username: admin.username, password }).toString(),
      });
    const warn = vi.spyOn(apim.manager.service.app.log, 'warn');

    expect((await register(wrongPassword)).status).toBe(401);
    expect((await passwordGrant(wrongPassword)).status).toBe(400);
    expect((await register(wrongPassword)).status).toBe(401);

    const locked = await register(admin.password);
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ code: 429, message: 'Too Many Requests' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(30);
    const lockedGrant = await passwordGrant(admin.password);
    expect(lockedGrant.status).toBe(429);
    expect(lockedGrant.body.error).toBe('too_many_requests');

    const lockouts = warn.mock.calls.filter(
      (args) => args[1] === 'admin account locked after repeated bad passwords',
    );
    expect(lockouts).toHaveLength(1);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(wrongPassword);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(admin.password);
    warn.mockRestore();

    vi.setSystemTime(Date.now() + 31_000);
    expect((await passwordGrant(admin.password)).status).toBe(200);
  });
});
