#!/usr/bin/env node
// Console step "restart": kubectl rollout restart on Kubernetes targets; native services hot-reload.
// Its command (options, usage, run) is defined in lib/commands/ with obkit's.
import { runScript } from './lib/commands/index.ts';

await runScript('restart', 'scripts/restart.ts');
