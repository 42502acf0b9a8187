import type { ResourceValidationPolicy } from '@pulumi/policy';
import { containersOf, kindOf, podTemplateOf } from '../kube.ts';

/**
 * No container may gain privileges: Kubernetes allows escalation unless allowPrivilegeEscalation is
 * explicitly false, and a privileged container is root on the node whatever its user.
 */
export const noPrivilegeEscalation: ResourceValidationPolicy = {
  name: 'containers-no-privilege-escalation',
  description: 'Containers must set allowPrivilegeEscalation: false and must not be privileged.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const template = podTemplateOf(kindOf(args.type), args.props);
    if (!template) return;
    for (const container of containersOf(template.spec)) {
      const context = container.securityContext ?? {};
      if (context.privileged === true) {
        reportViolation(`container '${container.name}' is privileged.`);
      }
      if (context.allowPrivilegeEscalation !== false) {
        reportViolation(`container '${container.name}' does not set allowPrivilegeEscalation: false.`);
      }
    }
  },
};
