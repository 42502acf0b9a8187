#!/usr/bin/env node
// Every console step in WSO2's order: key manager → publish APIs → truststores → restart → smoke test.
// Its command (options, usage, run) is defined once in lib/commands/, as `obkit` runs it.
import { runScript } from './lib/commands/index.ts';

await runScript('configure', 'scripts/configure.ts');
