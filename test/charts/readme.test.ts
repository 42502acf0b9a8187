import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { chartDir } from '../support/helm.ts';

// charts/obkit/README.md's parameter table is generated from values.yaml's @param annotations by
// Bitnami's readme-generator-for-helm (`npm run chart-readme`), which also refuses a value without one.

it('the chart README documents every value as values.yaml annotates it (npm run chart-readme)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-chart-readme-'));
  try {
    const readme = join(dir, 'README.md');
    await copyFile(join(chartDir, 'README.md'), readme);
    const generator = join(import.meta.dirname, '../../node_modules/.bin/readme-generator');
    await promisify(execFile)(generator, ['--values', join(chartDir, 'values.yaml'), '--readme', readme]);
    expect(await readFile(readme, 'utf8')).toBe(await readFile(join(chartDir, 'README.md'), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
