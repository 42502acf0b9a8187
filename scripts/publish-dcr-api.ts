#!/usr/bin/env node
// Console step "publish the DCR API": import, endpoint, business plan, in-sequence, revision, deploy, publish.
// Its command (options, usage, run) is defined in lib/commands/ with obkit's.
import { runScript } from './lib/commands/index.ts';

await runScript('publish-dcr-api', 'scripts/publish-dcr-api.ts');
