import type { ResourceValidationPolicy } from '@pulumi/policy';
import { containersOf, kindOf, podTemplateOf } from '../kube.ts';

const REQUIRED: ReadonlyArray<['requests' | 'limits', 'cpu' | 'memory']> = [
  ['requests', 'cpu'],
  ['requests', 'memory'],
  ['limits', 'cpu'],
  ['limits', 'memory'],
];

/**
 * Every container declares CPU and memory requests (so the scheduler places it honestly) and limits (so
 * one runaway pod cannot starve the node's other tenants).
 */
export const resourcesSet: ResourceValidationPolicy = {
  name: 'containers-resources-set',
  description: 'Containers must set CPU and memory requests and limits.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const kind = kindOf(args.type);
    const template = podTemplateOf(kind, args.props);
    if (!template) return;
    // Ephemeral (debug) containers cannot carry resources; only init and regular containers are checked.
    const containers = containersOf({ ...template.spec, ephemeralContainers: [] });
    for (const container of containers) {
      const missing = REQUIRED.filter(([section, resource]) => !container.resources?.[section]?.[resource]);
      if (missing.length > 0) {
        const names = missing.map(([section, resource]) => `${section}.${resource}`).join(', ');
        reportViolation(`container '${container.name}' does not set ${names}.`);
      }
    }
  },
};
