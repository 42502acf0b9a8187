import type { StackValidationPolicy } from '@pulumi/policy';
import { replicaRange, sameNamespace, selectorMatches } from '../kube.ts';
import { objectsOfKind, workloadsOf } from '../stack.ts';

const REPLICATED_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

/**
 * A workload that runs (or may autoscale to) more than one replica has a PodDisruptionBudget selecting
 * its pods, so a node drain or cluster upgrade cannot take every replica down at once.
 */
export const pdbForReplicatedWorkloads: StackValidationPolicy = {
  name: 'pdb-for-replicated-workloads',
  description: 'Workloads with more than one replica must be covered by a PodDisruptionBudget.',
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    const budgets = objectsOfKind(args.resources, 'PodDisruptionBudget');
    const autoscalers = objectsOfKind(args.resources, 'HorizontalPodAutoscaler');
    for (const workload of workloadsOf(args.resources)) {
      if (!REPLICATED_KINDS.has(workload.kind)) continue;
      const { max } = replicaRange(workload.kind, workload.object, autoscalers);
      if (max <= 1) continue;
      const covered = budgets.some(
        (budget) =>
          sameNamespace(budget, workload.object) &&
          selectorMatches(budget.spec?.selector, workload.template.labels),
      );
      if (!covered) {
        reportViolation(
          `${workload.kind} '${workload.name}' runs up to ${max} replicas but no PodDisruptionBudget selects its pods.`,
          workload.resource.urn,
        );
      }
    }
  },
};
