import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVPORTAL_API, MANAGEMENT_SCOPES, PUBLISHER_API } from '../../lib/wso2/management-api.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { type StartedIdentityServer, startIdentityServer } from '../support/identity-server.ts';
import { restartableCluster } from '../support/postgres-cluster.ts';

/**
 * The PostgreSQL server restarted under load (serial stage: it is the server every suite uses). While
 * it is down clients get 503 JSON with Retry-After — never a 500, a reset or a hang — the services
 * reconnect by themselves, and every write they acknowledged is there afterwards.
 */

const found = await restartableCluster();
if ('reason' in found) {
  if (process.env.CI && process.env.OBKIT_TEST_DATABASE_URL)
    throw new Error(`database fault tests: ${found.reason}`);
  console.log(`database fault tests skipped: ${found.reason}`);
}
const cluster = 'reason' in found ? undefined : found;

interface Answer {
  service: string;
  at: number;
  status: number | string;
  retryAfter?: string;
  json: boolean;
}

/** One kind of request a client keeps sending; `ack` is what a 2xx acknowledged (an id to find later). */
interface Probe {
  service: string;
  send(): Promise<{ status: number; headers: Record<string, unknown>; text: string; ack?: string }>;
}

let identity: StartedIdentityServer;
let apim: RunningApiManager;
let token: string;
let tokenClient: string;

beforeAll(async () => {
  if (!cluster) return;
  identity = await startIdentityServer({ databaseUrl: cluster.url });
  apim = await startApiManager({
    databaseUrl: cluster.url,
    schema: `api_manager_${randomUUID().slice(0, 8)}`,
  });
  token = await apim.managementToken(MANAGEMENT_SCOPES);
  const app = await registerApplication();
  expect(app.status).toBe(201);
  tokenClient = Buffer.from(`${app.json().client_id}:${app.json().client_secret}`).toString('base64');
});
afterAll(async () => {
  await identity?.close();
  await apim?.stop();
});

function registerApplication() {
  return identity.request('/keymanager-operations/dcr/register', {
    method: 'POST',
    identity: null,
    headers: { authorization: identity.adminAuthorization, 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: `fault-${randomUUID()}`, grant_types: ['client_credentials'] }),
  });
}

const probes = (): Probe[] => [
  {
    service: 'identity-server',
    async send() {
      const response = await registerApplication();
      return { ...response, ack: response.status === 201 ? response.json().client_id : undefined };
    },
  },
  {
    service: 'identity-server',
    send: () =>
      identity.request('/oauth2/token', {
        method: 'POST',
        identity: null,
        headers: {
          authorization: `Basic ${tokenClient}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      }),
  },
  {
    service: 'api-manager',
    async send() {
      const response = await apim.call('POST', `${DEVPORTAL_API}/applications`, {
        token,
        json: { name: `fault-${randomUUID()}` },
      });
      return {
        status: response.status,
        headers: response.headers,
        text: JSON.stringify(response.body ?? null),
        ack: response.status === 201 ? response.body.applicationId : undefined,
      };
    },
  },
  {
    service: 'api-manager',
    async send() {
      const response = await apim.call('GET', `${PUBLISHER_API}/apis`, { token });
      return {
        status: response.status,
        headers: response.headers,
        text: JSON.stringify(response.body ?? null),
      };
    },
  },
];

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!cluster)('the PostgreSQL server restarted under load', () => {
  it('answers 503 JSON with Retry-After meanwhile, reconnects by itself and loses nothing acknowledged', async () => {
    const answers: Answer[] = [];
    const acknowledged = { 'identity-server': [] as string[], 'api-manager': [] as string[] };
    let running = true;
    const workers = [...probes(), ...probes()].map(async (probe) => {
      while (running) {
        try {
          const response = await probe.send();
          answers.push({
            service: probe.service,
            at: Date.now(),
            status: response.status,
            retryAfter: response.headers['retry-after'] as string | undefined,
            json: isJson(response.text),
          });
          if (response.ack) acknowledged[probe.service as keyof typeof acknowledged].push(response.ack);
        } catch (error) {
          answers.push({
            service: probe.service,
            at: Date.now(),
            status: (error as Error).message,
            json: false,
          });
        }
      }
    });
    await expect.poll(() => answers.length, { timeout: 30_000 }).toBeGreaterThan(20);
    const startedBefore = await cluster!.startedAt();
    const { stoppedAt, acceptingAt } = await cluster!.restart(1000);
    const recoveredAt = (service: string) =>
      answers.find(
        (answer) =>
          answer.service === service &&
          answer.at > acceptingAt &&
          (answer.status === 200 || answer.status === 201),
      )?.at;
    await expect
      .poll(() => recoveredAt('identity-server') && recoveredAt('api-manager'), { timeout: 30_000 })
      .toBeTruthy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = false;
    await Promise.all(workers);

    expect(await cluster!.startedAt()).not.toBe(startedBefore);
    const unexpected = answers.filter(
      (answer) => ![200, 201, 503].includes(answer.status as number) || !answer.json,
    );
    expect(unexpected).toEqual([]);
    const unavailable = answers.filter((answer) => answer.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.every((answer) => Number(answer.retryAfter) > 0)).toBe(true);

    // Every acknowledged write is there.
    for (const clientId of acknowledged['identity-server']) {
      const read = await identity.request(`/keymanager-operations/dcr/register/${clientId}`, {
        identity: null,
        headers: { authorization: identity.adminAuthorization },
      });
      expect(read.status, clientId).toBe(200);
    }
    for (const applicationId of acknowledged['api-manager']) {
      expect(
        (await apim.call('GET', `${DEVPORTAL_API}/applications/${applicationId}`, { token })).status,
      ).toBe(200);
    }
    expect(await identity.readiness()).toBe(200);
    expect(await apim.readiness()).toBe(200);

    const count = (service: string, status: number) =>
      answers.filter((answer) => answer.service === service && answer.status === status).length;
    for (const service of ['identity-server', 'api-manager']) {
      console.log(
        `database restart (${cluster!.name}, down ${acceptingAt - stoppedAt} ms): ${service} ` +
          `${answers.filter((answer) => answer.service === service).length} requests, ` +
          `${count(service, 503)}×503, back ${recoveredAt(service)! - acceptingAt} ms after the server accepted connections; ` +
          `${acknowledged[service as keyof typeof acknowledged].length} acknowledged writes all found`,
      );
    }
  });
});
