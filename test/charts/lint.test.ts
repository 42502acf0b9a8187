import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, helm } from '../support/helm.ts';

const ciValues = readdirSync(path.join(chartDir, 'ci'))
  .filter((file) => file.endsWith('-values.yaml'))
  .sort();

describe('helm lint --strict', () => {
  it('finds the default, sandbox and production value sets', () => {
    expect(ciValues).toEqual(['default-values.yaml', 'production-values.yaml', 'sandbox-values.yaml']);
  });

  it.each(ciValues)('passes with ci/%s', async (file) => {
    const result = await helm(['lint', '--strict', chartDir, '--values', path.join(chartDir, 'ci', file)]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('fails when the values break the schema (the lint really validates)', async () => {
    const result = await helm(['lint', '--strict', chartDir, '--set', 'image.tag=latest']);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('/image/tag');
  });
});
