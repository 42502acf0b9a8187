import { keyManagerStep } from '../configure.ts';
import { runAndReport, withProgress } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

/** Console step "add the OBKM key manager" (scripts/configure-key-manager.ts). */
export const configureKeyManagerCommand = defineCommand({
  options: targetOptions,
  usage: (invocation) => `Usage: ${invocation} [target options]

Creates or updates the OBKM key manager (type ObKeyManager, the identity server's endpoints, connector
credentials, grant types, JWKS, token validation) and disables the Resident Key Manager.
Reports "unchanged" when the API manager already matches.

${TARGET_HELP}`,
  run: async ({ values }) => {
    const json = Boolean(values.json);
    await runAndReport(json, async () => {
      const target = await resolveTarget(values as TargetFlags);
      return [
        await withProgress('configuring key managers', json, (progress) => keyManagerStep(target, progress)),
      ];
    });
  },
});
