import type { StackValidationPolicy } from '@pulumi/policy';
import { environmentConfigSchema, environmentOf, PRODUCTION_HINT } from '../environment.ts';
import { COMPONENT_LABEL, labelsOf, replicaRange } from '../kube.ts';
import { objectsOfKind, workloadsOf } from '../stack.ts';

const MINIMUM = 2;

/**
 * In production the gateway, the only way in, never runs as a single pod: one pod restarting would take
 * every recipient's traffic down. With an autoscaler the floor is its minReplicas.
 */
export const productionGatewayReplicas: StackValidationPolicy = {
  name: 'production-gateway-replicas',
  description: `Production stacks must run at least ${MINIMUM} gateway replicas.`,
  enforcementLevel: 'mandatory',
  configSchema: environmentConfigSchema,
  validateStack: (args, reportViolation) => {
    if (environmentOf(args) !== 'production') args.notApplicable('not a production stack');
    const autoscalers = objectsOfKind(args.resources, 'HorizontalPodAutoscaler');
    const gateways = workloadsOf(args.resources).filter(
      (workload) =>
        (workload.template.labels[COMPONENT_LABEL] ?? labelsOf(workload.object)[COMPONENT_LABEL]) ===
        'gateway',
    );
    for (const gateway of gateways) {
      const { min } = replicaRange(gateway.kind, gateway.object, autoscalers);
      if (min < MINIMUM) {
        reportViolation(
          `${gateway.kind} '${gateway.name}' runs ${min} gateway replica(s); production needs at least ${MINIMUM} ${PRODUCTION_HINT}.`,
          gateway.resource.urn,
        );
      }
    }
  },
};
