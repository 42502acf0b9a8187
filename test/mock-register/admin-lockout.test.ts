import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMockRegister, type TestRegister } from '../support/register.ts';

/**
 * The sandbox Register's admin API behind the lockout, with the sandbox defaults (20 bad passwords in
 * 5 minutes lock the account for a minute): refused with 429 + Retry-After in the CDR Register's error
 * shape even with the right password, until the lockout ends (the clock is moved, not waited for).
 */

let register: TestRegister;
let agent: Agent;

beforeAll(async () => {
  register = await startMockRegister();
  agent = new Agent({ connect: { ca: register.caPem } });
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
});
afterAll(async () => {
  vi.useRealTimers();
  await agent?.close();
  await register?.close();
});

async function listProducts(password: string) {
  const response = await request(`${register.url}/admin/software-products`, {
    headers: {
      authorization: `Basic ${Buffer.from(`${register.admin.username}:${password}`).toString('base64')}`,
    },
    dispatcher: agent,
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    body: JSON.parse(text) as Record<string, unknown>,
  };
}

describe('admin lockout on the sandbox Register', () => {
  it('locks the admin after 20 bad passwords and lets the right one in after a minute', async () => {
    const { max_failures, lockout_seconds } = register.config.obkit.limits.admin_lockout;
    expect(max_failures).toBe(20);
    const wrong = randomBytes(8).toString('hex');
    for (let attempt = 0; attempt < max_failures; attempt++) {
      expect((await listProducts(wrong)).status).toBe(401);
    }
    const locked = await listProducts(register.admin.password);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(lockout_seconds);
    expect(locked.body).toMatchObject({ errors: [{ title: 'Too Many Requests' }] });

    vi.setSystemTime(Date.now() + (lockout_seconds + 1) * 1000);
    expect((await listProducts(register.admin.password)).status).toBe(200);
  });
});
