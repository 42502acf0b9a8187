import * as path from 'node:path';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

export interface ObkitArgs {
  namespace: pulumi.Input<string>;
  /** Values for charts/obkit (see stacks/chart-values.ts). */
  values: Record<string, unknown>;
}

/** The chart in this repository, whatever the working directory `pulumi` runs from. */
export const CHART_PATH = path.resolve(import.meta.dirname, '../../charts/obkit');

/**
 * The obkit chart (identity-server, api-manager, gateway, sandbox mock-register and banking) through
 * kubernetes.helm.v4.Chart: Pulumi renders it and manages every object itself, so the policy pack sees
 * them and `pulumi up` waits for the Deployments to become ready.
 */
export class Obkit extends pulumi.ComponentResource {
  public readonly chart: k8s.helm.v4.Chart;
  public readonly resources: pulumi.Output<unknown[]>;

  constructor(name: string, args: ObkitArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:Obkit', name, {}, opts);
    this.chart = new k8s.helm.v4.Chart(
      name,
      { name: 'obkit', chart: CHART_PATH, namespace: args.namespace, values: args.values },
      { parent: this },
    );
    this.resources = this.chart.resources;
    this.registerOutputs({ resources: this.resources });
  }
}
