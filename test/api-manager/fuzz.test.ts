import { readFile } from 'node:fs/promises';
import { FormData } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGEMENT_SCOPES, PUBLISHER_API as P } from '../../lib/wso2/management-api.ts';
import { errorShapeOf } from '../../services/api-manager/server.ts';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { fuzzService, MALFORMED_HTTP, reportLine, sendRaw } from '../support/fuzz.ts';

const DEFINITION = new URL('../../apis/cdr-dcr/0.2/cdr-dcr.yaml', import.meta.url);

let apim: RunningApiManager;
let token: string;
let apiId: string;

beforeAll(async () => {
  apim = await startApiManager();
  token = await apim.managementToken(MANAGEMENT_SCOPES);
  const form = new FormData();
  form.append('file', new Blob([await readFile(DEFINITION, 'utf8')]), 'definition.yaml');
  form.append('additionalProperties', JSON.stringify({ name: 'Fuzzed', version: '0.2', context: '/fuzzed' }));
  const created = await apim.call('POST', `${P}/apis/import-openapi`, { token, body: form });
  expect(created.status).toBe(201);
  apiId = created.body.id;
});
afterAll(async () => {
  await apim?.stop();
});

describe('api-manager under hostile input', () => {
  it('answers every generated request without a 5xx, with a JSON error of its surface, and stays healthy', async () => {
    const report = await fuzzService({
      url: apim.url,
      dispatchers: [apim.dispatcher],
      routes: apim.manager.service.routes.filter((route) => !route.startsWith('HEAD ')),
      ids: [apiId],
      queryNames: [
        'query',
        'limit',
        'offset',
        'revisionId',
        'revisionNumber',
        'apiId',
        'action',
        'applicationId',
      ],
      credentials: [
        `Bearer ${token}`,
        `Basic ${Buffer.from('admin:test-admin-password').toString('base64')}`,
      ],
      bodyLimit: 4 * 1024 * 1024,
      shapeOf: errorShapeOf,
    });
    console.log(reportLine('api-manager', report));
    expect(report.serverErrors).toEqual([]);
    expect(await apim.readiness()).toBe(200);
    expect((await apim.call('GET', `${P}/apis`, { token })).status).toBe(200);
  });

  it.each([
    ['a NUL in an API id', 'GET', `${P}/apis/%00`, 400],
    ['a NUL inside a key-manager id', 'GET', '/api/am/admin/v4/key-managers/a%00b', 400],
    ['a repeated query parameter', 'GET', `${P}/apis?query=a&query=b`, 400],
    ['an unknown API id', 'GET', `${P}/apis/no-such-api`, 404],
    ['a wrong method on a known path', 'PATCH', `${P}/apis`, 405],
  ])('answers %s with a 4xx in WSO2 shape', async (_case, method, path, status) => {
    const answer = await apim.call(method, path, { token });
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({
      code: status,
      message: expect.any(String),
      description: expect.any(String),
    });
    if (status === 405) expect(answer.headers.allow).toBe('GET, HEAD');
  });

  it.each([
    ['no boundary', 'multipart/form-data', '--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'],
    [
      'a truncated body',
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
    ],
  ])('refuses an import-openapi multipart with %s as 400', async (_case, contentType, body) => {
    const answer = await apim.call('POST', `${P}/apis/import-openapi`, {
      token,
      headers: { 'content-type': contentType },
      body,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe(400);
  });

  it('refuses Basic client credentials that are not valid percent-encoding as invalid_client', async () => {
    const answer = await apim.call('POST', '/oauth2/token', {
      headers: {
        authorization: `Basic ${Buffer.from('%zz:%E0%A4%A').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });

  it('answers HTTP its parser refuses with a JSON 4xx', async () => {
    for (const payload of MALFORMED_HTTP) {
      const answer = await sendRaw(apim.url, await readFile(apim.pki.caBundle, 'utf8'), payload);
      expect(answer.status, JSON.stringify(payload.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.contentType).toMatch(/^application\/json/);
    }
    expect(await apim.readiness()).toBe(200);
  });
});
