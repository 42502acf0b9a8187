import type { ResourceValidationPolicy } from '@pulumi/policy';
import { containersOf, kindOf, podTemplateOf } from '../kube.ts';

/**
 * Every container runs as a non-root user. The container's securityContext overrides the pod's, so the
 * effective value is checked per container: runAsUser 0 is root even with runAsNonRoot set (the kubelet
 * would refuse to start it), and neither field set means the image's user decides, which may be root.
 */
export const runAsNonRoot: ResourceValidationPolicy = {
  name: 'containers-run-as-non-root',
  description: 'Containers must run as a non-root user (runAsNonRoot: true or a non-zero runAsUser).',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const template = podTemplateOf(kindOf(args.type), args.props);
    if (!template) return;
    const pod = template.spec.securityContext ?? {};
    for (const container of containersOf(template.spec)) {
      const own = container.securityContext ?? {};
      const runAsUser = own.runAsUser ?? pod.runAsUser;
      const nonRoot = own.runAsNonRoot ?? pod.runAsNonRoot;
      if (runAsUser === 0) {
        reportViolation(`container '${container.name}' runs as root (runAsUser: 0).`);
      } else if (nonRoot !== true && !(typeof runAsUser === 'number' && runAsUser > 0)) {
        reportViolation(
          `container '${container.name}' may run as root: set runAsNonRoot: true and runAsUser.`,
        );
      }
    }
  },
};
