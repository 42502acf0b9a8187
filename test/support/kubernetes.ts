// What the chart tests need to reason about rendered objects: the Kubernetes schema validator for each
// kind the chart renders, typed finders, and a NetworkPolicy evaluator that answers "may this pod reach
// that port?" the way the API server's semantics do (for the subset of peers the chart uses).

import type { IDeployment } from 'kubernetes-models/apps/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import type { INetworkPolicy, INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IConfigMap, IService } from 'kubernetes-models/v1';
import { ConfigMap, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { RenderedObject } from './helm.ts';

type LabelSelector = NonNullable<INetworkPolicyPeer['podSelector']>;

type Validator = (object: RenderedObject) => void;

// Every kind the chart may render; an object of any other kind fails validation, so a new template
// cannot slip in unvalidated.
const validators: Record<string, Validator> = {
  'v1/ConfigMap': (o) => new ConfigMap(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as never).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
  'v1/Pod': (o) => new Pod(o as never).validate(),
  'batch/v1/Job': (o) => new Job(o as never).validate(),
  'batch/v1/CronJob': (o) => new CronJob(o as never).validate(),
  // Prometheus Operator CRDs: kubernetes-models ships no schema for them, so the fields the operator
  // needs to scrape are checked here.
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => validateMonitor(o, 'endpoints'),
  'monitoring.coreos.com/v1/PodMonitor': (o) => validateMonitor(o, 'podMetricsEndpoints'),
};

function validateMonitor(object: RenderedObject, endpointsKey: string): void {
  const spec = object.spec as Record<string, unknown> | undefined;
  const endpoints = spec?.[endpointsKey] as { port?: unknown; scheme?: unknown }[] | undefined;
  const selector = spec?.selector as { matchLabels?: Record<string, string> } | undefined;
  if (!selector?.matchLabels || Object.keys(selector.matchLabels).length === 0)
    throw new Error('spec.selector.matchLabels is required');
  if (!endpoints?.length || endpoints.some((e) => typeof e.port !== 'string' || e.scheme !== 'https'))
    throw new Error(`spec.${endpointsKey} needs named ports scraped over https`);
}

/** Validates an object against its kind's Kubernetes schema; throws naming the object. */
export function validateObject(object: RenderedObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const validate = validators[key];
  if (!validate) throw new Error(`${key} ${object.metadata?.name}: no schema validator for this kind`);
  try {
    validate(object);
  } catch (error) {
    throw new Error(`${key} ${object.metadata.name}: ${(error as Error).message}`);
  }
}

export const COMPONENT_PORTS = {
  'identity-server': 9446,
  'api-manager': 9443,
  gateway: 8243,
  'mock-register': 7000,
  banking: 9447,
} as const;
export type Component = keyof typeof COMPONENT_PORTS;
/** The management listeners (`/health/*`, `/metrics`): the services' default, public port + 100. */
export const MANAGEMENT_PORTS: Record<Component, number> = {
  'identity-server': 9546,
  'api-manager': 9543,
  gateway: 8343,
  'mock-register': 7100,
  banking: 9547,
};

function ofKind<T>(objects: RenderedObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[];
}

function componentOf(object: { metadata?: { labels?: Record<string, string> } }): string | undefined {
  return object.metadata?.labels?.['app.kubernetes.io/component'];
}

export const deployments = (objects: RenderedObject[]) => ofKind<IDeployment>(objects, 'Deployment');
export const services = (objects: RenderedObject[]) => ofKind<IService>(objects, 'Service');
export const configMaps = (objects: RenderedObject[]) => ofKind<IConfigMap>(objects, 'ConfigMap');
export const networkPolicies = (objects: RenderedObject[]) =>
  ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
export const pdbs = (objects: RenderedObject[]) =>
  ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
export const hpas = (objects: RenderedObject[]) =>
  ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');

export function componentsOf(objects: { metadata?: { labels?: Record<string, string> } }[]): string[] {
  return objects.map((o) => componentOf(o) ?? '(none)').sort();
}

function byComponent<T extends { metadata?: { labels?: Record<string, string> } }>(
  list: T[],
  component: string,
  what: string,
): T {
  const found = list.filter((o) => componentOf(o) === component);
  if (found.length !== 1) throw new Error(`expected one ${what} for ${component}, found ${found.length}`);
  return found[0]!;
}

export const deploymentOf = (objects: RenderedObject[], component: string) =>
  byComponent(deployments(objects), component, 'Deployment');
export const serviceOf = (objects: RenderedObject[], component: string) =>
  byComponent(services(objects), component, 'Service');

/** The component's only container. */
export function containerOf(deployment: IDeployment) {
  const containers = deployment.spec?.template.spec?.containers ?? [];
  if (containers.length !== 1) throw new Error(`${deployment.metadata?.name}: expected one container`);
  return containers[0]!;
}

export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const value = labels[requirement.key];
    const values = requirement.values ?? [];
    const ok =
      requirement.operator === 'In'
        ? value !== undefined && values.includes(value)
        : requirement.operator === 'NotIn'
          ? value === undefined || !values.includes(value)
          : requirement.operator === 'Exists'
            ? value !== undefined
            : value === undefined;
    if (!ok) return false;
  }
  return true;
}

/**
 * A traffic source: a pod of the release's namespace (its labels), any pod of another namespace (that
 * namespace's labels), or an address outside the cluster.
 */
export type Source =
  | { pod: Record<string, string> }
  | { namespace: Record<string, string> }
  | { external: true };

function peerAdmits(peer: INetworkPolicyPeer, source: Source): boolean {
  if ('external' in source) {
    // Only ipBlock peers can match traffic from outside the cluster; the chart's are 0.0.0.0/0-style.
    return (
      peer.ipBlock !== undefined && peer.podSelector === undefined && peer.namespaceSelector === undefined
    );
  }
  if ('namespace' in source) {
    return (
      peer.namespaceSelector !== undefined &&
      selects(peer.namespaceSelector, source.namespace) &&
      (peer.podSelector === undefined || selects(peer.podSelector, {}))
    );
  }
  // A namespaceSelector peer refers to other namespaces' pods; the chart's sources live in its own.
  if (peer.namespaceSelector !== undefined || peer.ipBlock !== undefined) return false;
  return selects(peer.podSelector, source.pod);
}

/**
 * Whether ingress from `source` to a pod with `targetLabels` on `port` is allowed: allowed when no
 * policy selects the pod, otherwise when some ingress rule of a selecting policy admits it.
 */
export function ingressAllowed(
  policies: INetworkPolicy[],
  targetLabels: Record<string, string>,
  source: Source,
  port: number,
): boolean {
  const selecting = policies.filter((p) => selects(p.spec?.podSelector, targetLabels));
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (policy.spec?.ingress ?? []).some((rule) => {
      const portOk = !rule.ports || rule.ports.some((p) => p.port === undefined || p.port === port);
      const fromOk = !rule.from || rule.from.some((peer) => peerAdmits(peer, source));
      return portOk && fromOk;
    }),
  );
}
