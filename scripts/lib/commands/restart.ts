import { runAndReport, withProgress } from '../report.ts';
import { restartServices } from '../restart.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

/** Console step "restart" (scripts/restart.ts). */
export const restartCommand = defineCommand({
  options: {
    ...targetOptions,
    namespace: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
  usage: (invocation) => `Usage: ${invocation} [--dry-run] [--namespace NS] [target options]

Kubernetes targets: kubectl rollout restart of the identity server, API manager and gateway
deployments, then waits for the rollouts (--dry-run prints the commands). Native obkit services reload
truststores without a restart: nothing to do. WSO2 outside Kubernetes: runs --restart-command CMD
(--dry-run prints it), or says which servers to restart.

${TARGET_HELP}`,
  run: async ({ values }) => {
    const json = Boolean(values.json);
    await runAndReport(json, async () => {
      const target = await resolveTarget(values as TargetFlags);
      if (values.namespace) {
        target.manifest.kubernetes = {
          namespace: values.namespace,
          deployments: target.manifest.kubernetes?.deployments ?? [
            'obkit-identity-server',
            'obkit-api-manager',
            'obkit-gateway',
          ],
        };
      }
      return [
        await withProgress('restarting', json, (progress) =>
          restartServices(target, { dryRun: Boolean(values['dry-run']), progress }),
        ),
      ];
    });
  },
});
