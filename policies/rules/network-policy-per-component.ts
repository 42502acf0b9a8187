import type { StackValidationPolicy } from '@pulumi/policy';
import { componentOf, sameNamespace, selectorIsEmpty, selectorMatches } from '../kube.ts';
import { objectsOfKind, workloadsOf } from '../stack.ts';

/**
 * Every component's pods are selected by a NetworkPolicy of their own (a non-empty podSelector): with
 * no policy a pod accepts traffic from every pod of the cluster, so the gateway-only path to the internal
 * ports would be decoration. A namespace-wide (empty) selector does not count: it cannot say which peers
 * each component accepts.
 */
export const networkPolicyPerComponent: StackValidationPolicy = {
  name: 'network-policy-per-component',
  description: 'Every workload must be selected by a NetworkPolicy with a non-empty podSelector.',
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    const policies = objectsOfKind(args.resources, 'NetworkPolicy').filter(
      (policy) => !selectorIsEmpty(policy.spec?.podSelector),
    );
    for (const workload of workloadsOf(args.resources)) {
      const covered = policies.some(
        (policy) =>
          sameNamespace(policy, workload.object) &&
          selectorMatches(policy.spec?.podSelector, workload.template.labels),
      );
      if (!covered) {
        const component = componentOf(workload.object, workload.template.labels);
        reportViolation(
          `${workload.kind} '${workload.name}' (component ${component}) is selected by no NetworkPolicy.`,
          workload.resource.urn,
        );
      }
    }
  },
};
