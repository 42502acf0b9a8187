import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FormData } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApiManager, startApiManager } from '../support/api-manager.ts';
import { postgresTarget } from '../support/database.ts';

const target = await postgresTarget();
if (!target)
  console.log('api-manager PostgreSQL suite skipped: OBKIT_TEST_DATABASE_URL unset or unreachable');
const schema = `api_manager_${randomBytes(5).toString('hex')}`;
let apim: RunningApiManager;

describe.skipIf(!target)('api-manager on a PostgreSQL server', () => {
  beforeAll(async () => {
    apim = await startApiManager({ databaseUrl: target!.url, schema });
  });
  afterAll(async () => {
    await apim?.stop();
    await target?.dropSchema(schema);
  });

  it('keeps management clients, APIs and revisions in its own schema', async () => {
    const token = await apim.managementToken(['apim:api_create', 'apim:api_view', 'apim:api_publish']);
    const form = new FormData();
    form.append(
      'file',
      new Blob([readFileSync(new URL('../../apis/cdr-dcr/0.2/cdr-dcr.yaml', import.meta.url))]),
      'dcr.yaml',
    );
    form.append(
      'additionalProperties',
      JSON.stringify({ name: 'PgDcr', version: '0.2', context: '/pg/{version}', policies: ['Gold'] }),
    );
    const created = await apim.call('POST', '/api/am/publisher/v4/apis/import-openapi', {
      token,
      body: form,
    });
    expect(created.status).toBe(201);
    const revision = await apim.call('POST', `/api/am/publisher/v4/apis/${created.body.id}/revisions`, {
      token,
      json: {},
    });
    expect(revision.status).toBe(201);
    const tables = await apim.manager.db.query<{ count: number }>(
      'SELECT count(*)::integer AS count FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    expect(apim.manager.db.kind).toBe('postgres');
    expect(tables.rows[0]!.count).toBeGreaterThan(5);
  });
});
