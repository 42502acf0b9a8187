#!/usr/bin/env node
// Console step "add the OBKM key manager": create/update OBKM (ObKeyManager → identity server), give the
// Resident Key Manager the connector credentials and disable it. Idempotent.
import { parseCommandLine } from './lib/command-line.ts';
import { keyManagerStep } from './lib/configure.ts';
import { runAndReport, withProgress } from './lib/report.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';

const USAGE = `Usage: scripts/configure-key-manager.ts [target options]

Creates or updates the OBKM key manager (type ObKeyManager, the identity server's endpoints, connector
credentials, grant types, JWKS, token validation) and disables the Resident Key Manager.
Reports "unchanged" when the API manager already matches.

${TARGET_HELP}`;

const { values } = parseCommandLine('scripts/configure-key-manager.ts', { options: targetOptions }, USAGE);

await runAndReport(values.json, async () => {
  const target = await resolveTarget(values);
  return [
    await withProgress('configuring key managers', values.json, (progress) =>
      keyManagerStep(target, progress),
    ),
  ];
});
