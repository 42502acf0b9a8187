#!/usr/bin/env node
// Console step "restart": kubectl rollout restart on Kubernetes targets; native services hot-reload.
import { parseCommandLine } from './lib/command-line.ts';
import { runAndReport, withProgress } from './lib/report.ts';
import { restartServices } from './lib/restart.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';

const USAGE = `Usage: scripts/restart.ts [--dry-run] [--namespace NS] [target options]

Kubernetes targets: kubectl rollout restart of the identity server, API manager and gateway
deployments, then waits for the rollouts (--dry-run prints the commands). Native obkit services reload
truststores without a restart: nothing to do. WSO2 outside Kubernetes: runs --restart-command CMD
(--dry-run prints it), or says which servers to restart.

${TARGET_HELP}`;

const { values } = parseCommandLine(
  'scripts/restart.ts',
  {
    options: {
      ...targetOptions,
      namespace: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  },
  USAGE,
);

await runAndReport(values.json, async () => {
  const target = await resolveTarget(values);
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
    await withProgress('restarting', values.json, (progress) =>
      restartServices(target, { dryRun: values['dry-run'], progress }),
    ),
  ];
});
