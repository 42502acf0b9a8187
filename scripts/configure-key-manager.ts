#!/usr/bin/env node
// Console step "add the OBKM key manager": create/update OBKM (ObKeyManager → identity server), give the
// Resident Key Manager the connector credentials and disable it. Idempotent.
// Its command (options, usage, run) is defined in lib/commands/ with obkit's.
import { runScript } from './lib/commands/index.ts';

await runScript('configure-key-manager', 'scripts/configure-key-manager.ts');
