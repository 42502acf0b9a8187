#!/usr/bin/env node
// Runs every benchmark in its own process, one after another so they do not compete for the two cores.
// Each prints its figures and the ratio to a baseline it measures in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches = ['identity-server.ts', 'gateway.ts', 'revocation.ts', 'up.ts', 'soak.ts'];
/** Minutes long: run only when named (`npm run bench -- soak`), never by a bare `npm run bench`. */
const onDemand = new Set(['soak.ts']);
const only = process.argv.slice(2);
let failed = false;

for (const file of benches) {
  if (only.length ? !only.some((name) => file.startsWith(name)) : onDemand.has(file)) continue;
  const path = join(here, file);
  if (!existsSync(path)) continue;
  console.log(`\n== ${file} ==`);
  const result = spawnSync(process.execPath, [path], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed = true;
    console.error(`${file} failed with exit code ${result.status}`);
  }
}
process.exitCode = failed ? 1 : 0;
