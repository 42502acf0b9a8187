/**
 * What the rules need to know about Kubernetes objects, in one place. A rule sees an object either as a
 * Pulumi resource (type token `kubernetes:apps/v1:Deployment`, props = the object's fields) or, in tests,
 * as a `helm template` document converted to the same shape; both carry the same fields.
 */

/** A Kubernetes object as the rules read it: loosely typed, because props come from the engine. */
// biome-ignore lint/suspicious/noExplicitAny: props are untyped engine data, narrowed by the helpers below.
export type KubeObject = Record<string, any>;

export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';

/** `kubernetes:apps/v1:Deployment` → `Deployment`; undefined for anything that is not a Kubernetes object. */
export function kindOf(type: string): string | undefined {
  const match = /^kubernetes:([^:]+):([^:]+)$/.exec(type);
  if (!match || match[1]?.startsWith('helm.sh/')) return undefined;
  return match[2];
}

/** The Pulumi type token Pulumi gives an object of this apiVersion and kind (core group is `core`). */
export function pulumiTypeOf(apiVersion: string, kind: string): string {
  const groupVersion = apiVersion.includes('/') ? apiVersion : `core/${apiVersion}`;
  return `kubernetes:${groupVersion}:${kind}`;
}

export function labelsOf(object: KubeObject | undefined): Record<string, string> {
  const labels = object?.metadata?.labels;
  return labels && typeof labels === 'object' ? labels : {};
}

export function nameOf(object: KubeObject, fallback = ''): string {
  const name = object.metadata?.name;
  return typeof name === 'string' ? name : fallback;
}

export function namespaceOf(object: KubeObject): string | undefined {
  const namespace = object.metadata?.namespace;
  return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}

export interface PodTemplate {
  labels: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: see KubeObject.
  spec: Record<string, any>;
}

/** The pod template of a workload (or the pod itself); undefined for objects that run no pods. */
export function podTemplateOf(kind: string | undefined, object: KubeObject): PodTemplate | undefined {
  switch (kind) {
    case 'Pod':
      return object.spec ? { labels: labelsOf(object), spec: object.spec } : undefined;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job': {
      const template = object.spec?.template;
      return template?.spec ? { labels: labelsOf(template), spec: template.spec } : undefined;
    }
    case 'CronJob': {
      const template = object.spec?.jobTemplate?.spec?.template;
      return template?.spec ? { labels: labelsOf(template), spec: template.spec } : undefined;
    }
    default:
      return undefined;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see KubeObject.
export type Container = Record<string, any> & { name?: string };

/** Every container a pod runs: init, regular and ephemeral, since each can be exploited the same way. */
export function containersOf(podSpec: KubeObject): Container[] {
  const lists = [podSpec.initContainers, podSpec.containers, podSpec.ephemeralContainers];
  return lists.flatMap((list) => (Array.isArray(list) ? list : []));
}

/** The component an object belongs to: its `app.kubernetes.io/component` label, else its name. */
export function componentOf(object: KubeObject, podLabels?: Record<string, string>): string {
  return labelsOf(object)[COMPONENT_LABEL] ?? podLabels?.[COMPONENT_LABEL] ?? nameOf(object, 'unnamed');
}

/** Whether a LabelSelector (matchLabels + matchExpressions) selects these labels. */
export function selectorMatches(selector: KubeObject | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const matchLabels: Record<string, string> = selector.matchLabels ?? {};
  for (const [key, value] of Object.entries(matchLabels)) {
    if (labels[key] !== value) return false;
  }
  const expressions: KubeObject[] = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  for (const { key, operator, values = [] } of expressions) {
    const present = Object.hasOwn(labels, key);
    const value = labels[key];
    if (operator === 'In' && !(present && values.includes(value))) return false;
    if (operator === 'NotIn' && present && values.includes(value)) return false;
    if (operator === 'Exists' && !present) return false;
    if (operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

/** An empty selector selects every pod of the namespace; the per-component rules require a real one. */
export function selectorIsEmpty(selector: KubeObject | undefined): boolean {
  if (!selector) return true;
  const labels = Object.keys(selector.matchLabels ?? {}).length;
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions.length : 0;
  return labels + expressions === 0;
}

/** Objects without a namespace (a chart rendered without one) are taken to share the release namespace. */
export function sameNamespace(a: KubeObject, b: KubeObject): boolean {
  const left = namespaceOf(a);
  const right = namespaceOf(b);
  return left === undefined || right === undefined || left === right;
}

/** The string values of a ConfigMap or Secret, decoding Secret `data` (base64). */
export function dataValuesOf(kind: string | undefined, object: KubeObject): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  const add = (source: unknown, decode: boolean) => {
    if (!source || typeof source !== 'object') return;
    for (const [key, value] of Object.entries(source)) {
      if (typeof value !== 'string') continue;
      entries.push([key, decode ? Buffer.from(value, 'base64').toString('utf8') : value]);
    }
  };
  if (kind === 'ConfigMap') {
    add(object.data, false);
    add(object.binaryData, true);
  } else if (kind === 'Secret') {
    add(object.stringData, false);
    add(object.data, true);
  }
  return entries;
}

/** Replicas a workload may run: the HPA bounds when one targets it, else spec.replicas (default 1). */
export function replicaRange(
  kind: string | undefined,
  object: KubeObject,
  autoscalers: KubeObject[],
): { min: number; max: number } {
  const autoscaler = autoscalers.find(
    (hpa) =>
      hpa.spec?.scaleTargetRef?.kind === kind &&
      hpa.spec?.scaleTargetRef?.name === nameOf(object) &&
      sameNamespace(hpa, object),
  );
  if (autoscaler) {
    const min = Number(autoscaler.spec?.minReplicas ?? 1);
    return { min, max: Number(autoscaler.spec?.maxReplicas ?? min) };
  }
  const replicas = Number(object.spec?.replicas ?? 1);
  return { min: replicas, max: replicas };
}
