import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('refuses to start on invalid configuration, naming the key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'obkit-apim-main-'));
  try {
    const file = join(dir, 'obkit.toml');
    await writeFile(file, '[obkit]\nmode = "production"\n[obkit.api_manager]\nport = 0\n');
    const result = spawnSync(process.execPath, ['services/api-manager/main.ts', '--config', file], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('obkit.admin.password');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
