import { $ } from 'zx';
import { type Progress, StepRecorder, type StepResult } from './report.ts';
import type { Target } from './target.ts';

/**
 * The "restart" console step. Native obkit services re-read truststores and configuration without a
 * restart, so there it does nothing and says why. On Kubernetes it rolls the deployments
 * (`kubectl rollout restart`, then waits for `rollout status`); with `dryRun` it prints the commands.
 * WSO2 outside Kubernetes re-reads its truststore only at start: with `--restart-command` the step runs
 * that command (for example a systemctl or ssh line the operator owns), otherwise it prints what to
 * restart, as it prints the kubectl commands on a dry run.
 */

/** What a WSO2 operator runs when obkit is not told how to restart the servers. */
export const WSO2_RESTART_ADVICE = [
  'restart WSO2 API Manager (<APIM_HOME>/bin/api-manager.sh restart) and Identity Server (<IS_HOME>/bin/wso2server.sh restart)',
  'so they load the new truststore, or give --restart-command CMD to have obkit run it',
];

export function restartCommands(target: Target): string[][] {
  const kube = target.manifest.kubernetes;
  if (!kube) return [];
  return kube.deployments.map((deployment) => [
    'kubectl',
    '--namespace',
    kube.namespace,
    'rollout',
    'restart',
    `deployment/${deployment}`,
  ]);
}

export async function restartServices(
  target: Target,
  options: { dryRun?: boolean; progress?: Progress } = {},
): Promise<StepResult> {
  const step = new StepRecorder('restart', options.progress);
  const commands = restartCommands(target);
  if (!commands.length) {
    if (target.manifest.target === 'wso2') return restartWso2(target, step, options.dryRun);
    step.note('native services reload truststores and configuration without a restart');
    return { ...step.result(), status: 'skipped' };
  }
  for (const command of commands) {
    if (options.dryRun) {
      step.note(command.join(' '));
      continue;
    }
    await $`${command}`.quiet();
    step.change(command.join(' '));
  }
  if (!options.dryRun) {
    const kube = target.manifest.kubernetes!;
    for (const deployment of kube.deployments) {
      options.progress?.(`waiting for deployment/${deployment}`);
      await $`kubectl --namespace ${kube.namespace} rollout status deployment/${deployment} --timeout=300s`.quiet();
    }
  }
  return options.dryRun ? { ...step.result(), status: 'skipped' } : step.result();
}

async function restartWso2(target: Target, step: StepRecorder, dryRun?: boolean): Promise<StepResult> {
  const command = target.manifest.restartCommand;
  if (!command || dryRun) {
    for (const line of command ? [command] : WSO2_RESTART_ADVICE) step.note(line);
    return { ...step.result(), status: 'skipped' };
  }
  // The operator's own command line, as they would type it: run by the shell, output shown on failure.
  const outcome = await $`sh -c ${command}`.quiet().nothrow();
  if (outcome.exitCode !== 0) {
    throw new Error(
      `--restart-command exited ${outcome.exitCode}: ${outcome.stderr.trim() || outcome.stdout.trim()}`,
    );
  }
  step.change(`ran ${command}`);
  return step.result();
}
