import { $ } from 'zx';
import { type Progress, StepRecorder, type StepResult } from './report.ts';
import type { Target } from './target.ts';

/**
 * The "restart" console step. Native obkit services re-read truststores and configuration without a
 * restart, so there it does nothing and says why. On Kubernetes it rolls the deployments
 * (`kubectl rollout restart`, then waits for `rollout status`); with `dryRun` it prints the commands.
 * A WSO2 deployment outside Kubernetes is restarted by its operator: the step says which servers.
 */

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
    if (target.manifest.target === 'wso2') {
      step.note(
        'restart WSO2 Identity Server and API Manager to load the new truststore (wso2server.sh restart, or roll their pods)',
      );
      return { ...step.result(), status: 'skipped' };
    }
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
