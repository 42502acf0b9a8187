import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzService, MALFORMED_HTTP, reportLine, sendRaw } from '../support/fuzz.ts';
import {
  type SeededProduct,
  seedSoftwareProduct,
  startMockRegister,
  type TestRegister,
} from '../support/register.ts';

let register: TestRegister;
let product: SeededProduct;

beforeAll(async () => {
  register = await startMockRegister();
  product = await seedSoftwareProduct(register);
});
afterAll(async () => {
  await register?.close();
});

describe('mock-register under hostile input', () => {
  it('answers every generated request without a 5xx, with a JSON CDS error, and stays healthy', async () => {
    const recipient = new Agent({
      connect: {
        ca: register.caPem,
        cert: await readFile(register.pki.clientCertificate, 'utf8'),
        key: await readFile(register.pki.clientKey, 'utf8'),
      },
    });
    const anonymous = new Agent({ connect: { ca: register.caPem } });
    const { username, password } = register.admin;
    const report = await fuzzService({
      url: register.url,
      dispatchers: [recipient, anonymous],
      routes: register.register.service.routes.filter((route) => !route.startsWith('HEAD ')),
      ids: [product.softwareProductId, product.brandId, 'banking', 'all'],
      credentials: [`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`],
      bodyLimit: 1_048_576,
      shapeOf: () => 'cds',
    });
    console.log(reportLine('mock-register', report));
    await Promise.all([recipient.close(), anonymous.close()]);
    expect(report.serverErrors).toEqual([]);
    expect((await register.client.getJwks()).keys.length).toBeGreaterThan(0);
  });

  it('answers HTTP its parser refuses with a JSON 4xx', async () => {
    for (const payload of MALFORMED_HTTP) {
      const answer = await sendRaw(register.url, register.caPem, payload);
      expect(answer.status, JSON.stringify(payload.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.contentType).toMatch(/^application\/json/);
    }
  });
});
