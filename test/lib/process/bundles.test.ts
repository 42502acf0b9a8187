import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUNDLE_ENTRIES, type Bundles, ensureBundles, freshBundles } from '../../../lib/process/bundles.ts';
import { CACHE_DIR } from '../../../lib/process/cache.ts';

// What `obkit up` runs: the processes from bundles built by esbuild, rebuilt when a source changes.
describe('process bundles', () => {
  let dir: string;
  let bundles: Bundles | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    // Beside the real bundles: the packages left external resolve from the package's node_modules.
    await mkdir(CACHE_DIR, { recursive: true });
    dir = await mkdtemp(join(CACHE_DIR, 'bundles-test-'));
    bundles = await ensureBundles((line) => lines.push(line), dir);
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds every entry point once, and reuses the build while the sources are unchanged', async () => {
    expect(bundles, lines.join('\n')).toBeDefined();
    expect(lines).toEqual([expect.stringMatching(/^bundled the processes in /)]);
    for (const entry of BUNDLE_ENTRIES) expect(existsSync(bundles!.of(entry)), entry).toBe(true);
    expect(freshBundles(dir)?.dir).toBe(bundles!.dir);
    const again: string[] = [];
    expect((await ensureBundles((line) => again.push(line), dir))?.dir).toBe(bundles!.dir);
    expect(again).toEqual([]);
  });

  it('runs a service from its bundle, which reads and validates the configuration like the sources', () => {
    const result = spawnSync(process.execPath, [bundles!.of('services/mock-register/main.ts')], {
      env: { ...process.env, OBKIT_CONFIG: '', OBKIT__OBKIT__MODE: 'production' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.stderr).toContain('mock-register: ');
    expect(result.status).toBe(1);
  });

  it('is stale once a source it was built from changed, and is then rebuilt', async () => {
    const record = JSON.parse(await readFile(join(dir, 'current.json'), 'utf8')) as {
      inputs: Record<string, [number, number]>;
    };
    expect(Object.keys(record.inputs)).toEqual(
      expect.arrayContaining(['services/gateway/server.ts', 'lib/config/index.ts', 'package-lock.json']),
    );
    record.inputs['lib/config/index.ts']![0] += 1;
    await writeFile(join(dir, 'current.json'), JSON.stringify(record));
    expect(freshBundles(dir)).toBeUndefined();
    const rebuilt = await ensureBundles(() => undefined, dir);
    expect(rebuilt?.dir).not.toBe(bundles!.dir);
    expect(freshBundles(dir)?.dir).toBe(rebuilt!.dir);
  }, 120_000);

  it('OBKIT_BUNDLES=0 runs the sources: nothing is built or used', async () => {
    vi.stubEnv('OBKIT_BUNDLES', '0');
    try {
      const empty = await mkdtemp(join(tmpdir(), 'obkit-bundles-off-'));
      expect(await ensureBundles(() => undefined, empty)).toBeUndefined();
      expect(await readdir(empty)).toEqual([]);
      expect(freshBundles(dir)).toBeUndefined();
      await rm(empty, { recursive: true });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
