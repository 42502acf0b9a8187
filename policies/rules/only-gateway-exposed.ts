import type { ResourceValidationPolicy } from '@pulumi/policy';
import { COMPONENT_LABEL, containersOf, kindOf, labelsOf, nameOf, podTemplateOf } from '../kube.ts';

const GATEWAY = 'gateway';
const EXTERNAL_SERVICE_TYPES = new Set(['LoadBalancer', 'NodePort']);

/**
 * Only the gateway is reachable from outside the cluster: it terminates recipients' mutual TLS and is the
 * one place the forwarded-certificate header is set. Anything else exposed (a LoadBalancer or NodePort
 * Service, external IPs, an Ingress, host ports or the host network) bypasses that check.
 */
export const onlyGatewayExposed: ResourceValidationPolicy = {
  name: 'only-gateway-exposed',
  description: 'Only the gateway component may be exposed outside the cluster.',
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    const kind = kindOf(args.type);
    const component = labelsOf(args.props)[COMPONENT_LABEL];
    const name = nameOf(args.props, args.name);
    if (kind === 'Service') {
      const type = args.props.spec?.type ?? 'ClusterIP';
      const externalIPs: unknown[] = args.props.spec?.externalIPs ?? [];
      if (component !== GATEWAY && EXTERNAL_SERVICE_TYPES.has(type)) {
        reportViolation(`Service '${name}' (component ${component ?? 'none'}) is of type ${type}.`);
      }
      if (component !== GATEWAY && externalIPs.length > 0) {
        reportViolation(`Service '${name}' (component ${component ?? 'none'}) has externalIPs.`);
      }
      return;
    }
    if (kind === 'Ingress') {
      if (component !== GATEWAY) reportViolation(`Ingress '${name}' is not the gateway's.`);
      return;
    }
    const template = podTemplateOf(kind, args.props);
    if (!template || (template.labels[COMPONENT_LABEL] ?? component) === GATEWAY) return;
    if (template.spec.hostNetwork === true) reportViolation(`${kind} '${name}' uses the host network.`);
    for (const container of containersOf(template.spec)) {
      const ports: Array<{ hostPort?: number }> = container.ports ?? [];
      if (ports.some((port) => port.hostPort)) {
        reportViolation(`container '${container.name}' of ${kind} '${name}' binds a host port.`);
      }
    }
  },
};
