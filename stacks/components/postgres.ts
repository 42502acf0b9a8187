import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { StackConfig } from '../config.ts';
import { componentLabels, FULLNAME, SECRETS } from '../names.ts';

export interface PostgresArgs {
  namespace: pulumi.Input<string>;
  namespaceName: string;
  database: StackConfig['database'];
}

const OPERATOR_NAMESPACE = 'cnpg-system';
const CLUSTER_NAME = `${FULLNAME}-db`;
const DATABASE = 'obkit';
const OWNER = 'obkit';

/**
 * PostgreSQL, the one stateful tier: a CloudNativePG cluster (operator chart + `Cluster` resource; the
 * operator runs failover, replicas and the cluster's PodDisruptionBudgets), or an external managed
 * server. Either way the result is one Secret with key `url`, which the chart hands the services as
 * DATABASE_URL; each service owns its schema in that database.
 */
export class Postgres extends pulumi.ComponentResource {
  /** Name of the Secret holding `url`. */
  public readonly secretName: pulumi.Output<string>;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:db:Postgres', name, {}, opts);
    const url = args.database.mode === 'external' ? args.database.url : this.cloudNativePg(name, args);
    if (!url) throw new pulumi.RunError('obkit:databaseUrl: required when database is external');
    const secret = new k8s.core.v1.Secret(
      name,
      {
        metadata: { name: SECRETS.database, namespace: args.namespace, labels: componentLabels('database') },
        type: 'Opaque',
        stringData: { url: pulumi.secret(url) },
      },
      { parent: this },
    );
    this.secretName = secret.metadata.name;
    this.registerOutputs({ secretName: this.secretName });
  }

  /** The operator (unless the cluster already runs one), the Cluster and its owner credential; returns the URL. */
  private cloudNativePg(name: string, args: PostgresArgs): pulumi.Output<string> {
    const { database } = args;
    const dependsOn: pulumi.Resource[] = [];
    if (database.installOperator) {
      const operatorNamespace = new k8s.core.v1.Namespace(
        `${name}-operator`,
        { metadata: { name: OPERATOR_NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'cloudnative-pg' } } },
        { parent: this },
      );
      const operator = new k8s.helm.v4.Chart(
        `${name}-operator`,
        {
          chart: 'cloudnative-pg',
          version: database.operatorChartVersion,
          repositoryOpts: { repo: 'https://cloudnative-pg.github.io/charts' },
          namespace: operatorNamespace.metadata.name,
          // The chart sets a non-root, read-only, no-escalation security context itself; resources it leaves
          // empty, and the policy pack requires them.
          values: {
            resources: {
              requests: { cpu: '100m', memory: '128Mi' },
              limits: { cpu: '500m', memory: '512Mi' },
            },
          },
        },
        { parent: this },
      );
      // Ingress to the operator is its admission webhook, called by the API server (not selectable by label).
      new k8s.networking.v1.NetworkPolicy(
        `${name}-operator`,
        {
          metadata: { name: 'cloudnative-pg', namespace: operatorNamespace.metadata.name },
          spec: {
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'cloudnative-pg' } },
            policyTypes: ['Ingress'],
            ingress: [{ ports: [{ port: 9443, protocol: 'TCP' }] }],
          },
        },
        { parent: this },
      );
      dependsOn.push(operator);
    }

    const password = new random.RandomPassword(
      `${name}-owner-password`,
      { length: 32, special: false },
      { parent: this },
    );
    const owner = new k8s.core.v1.Secret(
      `${name}-owner`,
      {
        metadata: {
          name: SECRETS.databaseOwner,
          namespace: args.namespace,
          labels: componentLabels('database'),
        },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: OWNER, password: password.result },
      },
      { parent: this },
    );
    new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      {
        apiVersion: 'postgresql.cnpg.io/v1',
        kind: 'Cluster',
        metadata: { name: CLUSTER_NAME, namespace: args.namespace, labels: componentLabels('database') },
        spec: {
          instances: database.instances,
          imageName: database.postgresImage,
          enableSuperuserAccess: false,
          bootstrap: { initdb: { database: DATABASE, owner: OWNER, secret: { name: owner.metadata.name } } },
          storage: {
            size: database.storageSize,
            ...(database.storageClass ? { storageClass: database.storageClass } : {}),
          },
          resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } },
        },
      },
      { parent: this, dependsOn },
    );
    // Only obkit's pods, the operator and the cluster's own instances (replication) reach PostgreSQL.
    new k8s.networking.v1.NetworkPolicy(
      `${name}-cluster`,
      {
        metadata: { name: CLUSTER_NAME, namespace: args.namespace, labels: componentLabels('database') },
        spec: {
          podSelector: { matchLabels: { 'cnpg.io/cluster': CLUSTER_NAME } },
          policyTypes: ['Ingress'],
          ingress: [
            {
              ports: [{ port: 5432, protocol: 'TCP' }],
              from: [
                { podSelector: { matchLabels: { 'app.kubernetes.io/name': FULLNAME } } },
                { podSelector: { matchLabels: { 'cnpg.io/cluster': CLUSTER_NAME } } },
              ],
            },
            {
              ports: [
                { port: 8000, protocol: 'TCP' },
                { port: 5432, protocol: 'TCP' },
              ],
              from: [
                { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': OPERATOR_NAMESPACE } } },
              ],
            },
          ],
        },
      },
      { parent: this },
    );
    // CloudNativePG serves TLS with a CA of its own that the chart does not mount yet: the connection is
    // encrypted, and confined to the cluster network by the policy above (sslmode=no-verify).
    const host = `${CLUSTER_NAME}-rw.${args.namespaceName}.svc`;
    return pulumi.interpolate`postgres://${OWNER}:${password.result}@${host}:5432/${DATABASE}?sslmode=no-verify`;
  }
}
