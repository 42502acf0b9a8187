#!/usr/bin/env node
// The smoke registration, as an Accredited Data Recipient: SSA → POST → token → GET/PUT/DELETE, plus refusals.
// Its command (options, usage, run) is defined once in lib/commands/, as `obkit` runs it.
import { runScript } from './lib/commands/index.ts';

await runScript('smoke', 'scripts/smoke-test.ts');
