import { serviceHealth } from '../health.ts';
import { formatResult, runAndReport } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

export const statusCommand = defineCommand({
  options: targetOptions,
  usage: (invocation) => `Usage: ${invocation} [target options]

GET /health/ready of every service in the environment, on its management URL (obkit serves health and
metrics there, never on the public ports); exits 1 when one is not ready. WSO2 targets:
the Health Check API (/api/health-check/v1.0/health) where deployed, else the Version service
(/services/Version) of the identity server and API manager, and an answer from the gateway. For a
stack started by \`obkit up\`, also whether it is running, each process's state and its restarts.

${TARGET_HELP}`,
  run: async ({ values }) => {
    await runAndReport(Boolean(values.json), async () => {
      const target = await resolveTarget(values as TargetFlags);
      const result = await serviceHealth(target);
      if (result.data?.down)
        throw new Error(`${formatResult(result)}\nnot ready: ${(result.data.down as string[]).join(', ')}`);
      return [result];
    });
  },
});
