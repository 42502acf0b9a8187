import { parse } from 'smol-toml';
import { dataValuesOf, type KubeObject } from './kube.ts';

/**
 * obkit's TOML configuration as the chart renders it into a ConfigMap (see lib/config/schema.ts): the
 * production rules read `[obkit] mode` and `allow_private_addresses` from it.
 */
export interface ObkitToml {
  key: string;
  obkit: { mode?: unknown; allow_private_addresses?: unknown };
}

export function obkitTomlDocuments(kind: string | undefined, object: KubeObject): ObkitToml[] {
  if (kind !== 'ConfigMap') return [];
  const documents: ObkitToml[] = [];
  for (const [key, value] of dataValuesOf(kind, object)) {
    if (!key.endsWith('.toml')) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = parse(value);
    } catch {
      // A ConfigMap that is not valid TOML is not obkit's configuration; the services reject it anyway.
      continue;
    }
    const obkit = parsed.obkit;
    if (obkit && typeof obkit === 'object') documents.push({ key, obkit });
  }
  return documents;
}

/** The obkit chart's values when the resource is a Pulumi Helm Chart (v3 or v4) installing it. */
export function obkitChartValues(type: string, props: KubeObject): KubeObject | undefined {
  if (!/^kubernetes:helm\.sh\/v[34]:Chart$/.test(type)) return undefined;
  const values = props.values;
  const chart = String(props.chart ?? '');
  return values && typeof values === 'object' && /(^|\/)obkit\/?$/.test(chart) ? values : undefined;
}
