#!/usr/bin/env node
// obkit: the local stack (`up`), the configure steps and the smoke test against any target, health,
// sandbox transport certificates and truststore aliases. Every command answers --help. The commands
// are defined once, in scripts/lib/commands/, which the console-step scripts run too.
import { readFileSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPILE_CACHE_DIR } from '../lib/process/cache.ts';
import { type CommandName, OBKIT_COMMANDS, runObkitCommand } from '../scripts/lib/commands/index.ts';

// Each command loads only its own modules, after the compile cache is on: a start spares recompiling them.
enableCompileCache(COMPILE_CACHE_DIR);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: obkit <command> [options]

Commands:
  up                     start the whole stack locally (sandbox), configure it, prove it with a
                         registration, print how to call it; stays in the foreground, supervising
  down                   stop the \`obkit up\` running on a state directory
  logs [SERVICE]         the local stack's logs, readable (--follow to keep printing)
  configure              run every configure step in WSO2's order, then the smoke test
                         (--plan: what it would change, exit 2 on drift)
  smoke                  the smoke registration (or the no-SSA checks against production); in a
                         sandbox with the banking service, then consent, data and revocation
  consent-url            a fresh consent URL for the sandbox demo client (as \`obkit up\` prints)
  status                 health of each service of the environment (and restarts under \`obkit up\`)
  conformance dcr        the DCR conformance cases (every rule of docs/dcr-rules.md) against a Data Holder
  dcr explain FILE|-     why a registration request is refused: each rule passed/failed/skipped, offline
  pki issue-client --cn NAME   a transport certificate from the sandbox CA
  truststore add|list|remove   the recipients' CA truststore (aliases)

  --version              print obkit's version

Run \`obkit <command> --help\` for a command's options. Scripts for each step: ${join(ROOT, 'scripts')}/`;

const [command, ...args] = process.argv.slice(2);

if (OBKIT_COMMANDS.includes(command as CommandName)) await runObkitCommand(command as CommandName, args);
else if (command === '--version' || command === '-v' || command === 'version')
  console.log(`obkit ${version()}`);
else if (command === undefined || command === 'help' || command === '--help' || command === '-h')
  console.log(HELP);
else {
  console.error(`obkit: unknown command ${command}\n\n${HELP}`);
  process.exitCode = 2;
}

function version(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
