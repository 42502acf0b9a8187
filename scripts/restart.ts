#!/usr/bin/env node
// Console step "restart": kubectl rollout restart on Kubernetes targets; native services hot-reload.
import { parseArgs } from 'node:util';
import { echo } from 'zx';
import { runAndReport, withProgress } from './lib/report.ts';
import { restartServices } from './lib/restart.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';

const { values } = parseArgs({
  options: {
    ...targetOptions,
    namespace: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});
if (values.help) {
  echo(`Usage: scripts/restart.ts [--dry-run] [--namespace NS] [target options]

Kubernetes targets: kubectl rollout restart of the identity server, API manager and gateway
deployments, then waits for the rollouts (--dry-run prints the commands). Native obkit services reload
truststores without a restart: nothing to do. WSO2 outside Kubernetes: says which servers to restart.

${TARGET_HELP}`);
  process.exit(0);
}

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
