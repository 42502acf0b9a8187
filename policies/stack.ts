import type { PolicyResource } from '@pulumi/policy';
import { type KubeObject, kindOf, nameOf, type PodTemplate, podTemplateOf } from './kube.ts';

/** A workload of the stack with the pod template it runs. */
export interface Workload {
  resource: PolicyResource;
  kind: string;
  name: string;
  object: KubeObject;
  template: PodTemplate;
}

/** Pulumi resources are recorded in any order; the stack rules look at them by kind. */
export function workloadsOf(resources: PolicyResource[]): Workload[] {
  const workloads: Workload[] = [];
  for (const resource of resources) {
    const kind = kindOf(resource.type);
    const template = podTemplateOf(kind, resource.props);
    if (kind && template) {
      workloads.push({
        resource,
        kind,
        name: nameOf(resource.props, resource.name),
        object: resource.props,
        template,
      });
    }
  }
  return workloads;
}

export function objectsOfKind(resources: PolicyResource[], kind: string): KubeObject[] {
  return resources.filter((resource) => kindOf(resource.type) === kind).map((resource) => resource.props);
}
