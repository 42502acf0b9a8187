import {
  type ConfigureFlagValues,
  configure,
  configureFlags,
  configureOptionsFrom,
  formatPlan,
  planConfigure,
} from '../configure.ts';
import { runAndReport, withProgress } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

export const configureCommand = defineCommand({
  options: { ...targetOptions, ...configureFlags },
  usage: (invocation) => `Usage: ${invocation} [options] [target options]

Runs, in WSO2's order: the OBKM key manager (and disables the Resident Key Manager), publishes the DCR
API, loads the truststore, restarts where the target needs it, then the smoke test. Each step prints
"unchanged" or "updated".

  --definition FILE --insequence FILE   the DCR API to publish (default apis/cdr-dcr/0.2/)
  --trust FILE           CA certificates for the truststores (repeatable; sandbox default: its CA)
  --ssa FILE --signing-key JWK.json     smoke-test with a given SSA and key; with --register URL,
                         --signing-key alone: the key the Register hosts
  --no-smoke             skip the smoke test
  --plan                 change nothing: print what configure would create (+), update (~), delete (-)
                         or leave (=), as JSON with --json; exit 2 when something would change, 0 when
                         the target is in sync (a pipeline gate on drift)

Example:
  ${invocation} --plan --json > plan.json   # exit 2: drift (plan.json says what), 0: in sync

${TARGET_HELP}`,
  run: async ({ values }) => {
    const json = Boolean(values.json);
    if (values.plan) {
      try {
        const target = await resolveTarget(values as TargetFlags);
        const plan = await planConfigure(target, await configureOptionsFrom(values as ConfigureFlagValues));
        process.stdout.write(
          json ? `${JSON.stringify({ ok: true, ...plan }, null, 2)}\n` : `${formatPlan(plan)}\n`,
        );
        process.exitCode = plan.inSync ? 0 : 2;
      } catch (error) {
        const message = (error as Error).message;
        if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
        else console.error(`error: ${message}`);
        process.exitCode = 1;
      }
      return;
    }
    await runAndReport(json, async () => {
      const target = await resolveTarget(values as TargetFlags);
      const options = await configureOptionsFrom(values as ConfigureFlagValues);
      return withProgress('configuring', json, (progress) => configure(target, { ...options, progress }));
    });
  },
});
