#!/usr/bin/env node
// Console step "import the CA certificates into the truststores": add, list or remove CAs by alias.
// Its command (options, usage, run) is defined once in lib/commands/, as `obkit` runs it.
import { runScript } from './lib/commands/index.ts';

await runScript('truststore', 'scripts/load-truststore.ts');
