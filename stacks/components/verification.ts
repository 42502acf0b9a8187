import { createHash } from 'node:crypto';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { COMPONENTS } from '../../lib/config/components.ts';
import { JOB_COMPONENTS } from '../chart-values.ts';
import { type ClusterManifest, ENVIRONMENT_FILE, MOUNTS } from '../environment.ts';
import { componentLabels, FULLNAME } from '../names.ts';

export interface VerificationArgs {
  namespace: pulumi.Input<string>;
  image: string;
  manifest: ClusterManifest;
  secrets: {
    admin: pulumi.Input<string>;
    serverCa: pulumi.Input<string>;
    truststore: pulumi.Input<string>;
    smokeClient?: pulumi.Input<string>;
  };
  /** What must be up before the Jobs run: the chart (its Deployments ready). */
  after: pulumi.Input<pulumi.Resource>[];
  /** Bumped to re-run the Jobs without any other change (docs/pulumi.md, "Re-running configuration"). */
  revision: number;
  backoffLimit: number;
  timeoutSeconds: number;
}

const RUN_AS = 10001;

/**
 * The post-deploy verification: a Job running `obkit configure` (the console steps, idempotent) and
 * then one running `obkit smoke` (a real Dynamic Client Registration through the gateway), in-cluster,
 * against the Service names. Pulumi waits for a Job to complete and fails `pulumi up` when it fails, so
 * a deployment that does not work does not report success. Credentials reach the Jobs only as Secret
 * references; the environment manifest is a ConfigMap without secrets.
 */
export class Verification extends pulumi.ComponentResource {
  public readonly configureJob: pulumi.Output<string>;
  public readonly smokeJob: pulumi.Output<string>;

  constructor(name: string, args: VerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:Verification', name, {}, opts);
    const manifestJson = `${JSON.stringify(args.manifest, null, 2)}\n`;
    const environment = new k8s.core.v1.ConfigMap(
      `${name}-environment`,
      {
        metadata: { namespace: args.namespace, labels: componentLabels('verification') },
        data: { 'environment.json': manifestJson },
      },
      { parent: this },
    );

    // The Job pods may reach DNS and the obkit Services; the chart's policies admit them to the internal ports.
    for (const component of JOB_COMPONENTS) {
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${component}`,
        {
          metadata: { namespace: args.namespace, labels: componentLabels(component) },
          spec: {
            podSelector: { matchLabels: jobSelector(component) },
            policyTypes: ['Ingress', 'Egress'],
            ingress: [],
            egress: [
              {
                ports: [
                  { port: 53, protocol: 'UDP' },
                  { port: 53, protocol: 'TCP' },
                ],
              },
              {
                to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': FULLNAME } } }],
                ports: Object.values(COMPONENTS).map((service) => ({ port: service.port, protocol: 'TCP' })),
              },
            ],
          },
        },
        { parent: this },
      );
    }

    // A changed manifest or revision changes the pod template, which replaces the Job: it runs again.
    const checksum = createHash('sha256').update(manifestJson).digest('hex');
    const job = (
      component: (typeof JOB_COMPONENTS)[number],
      command: string,
      dependsOn: pulumi.Input<pulumi.Resource>[],
    ) =>
      new k8s.batch.v1.Job(
        `${name}-${component}`,
        {
          metadata: { namespace: args.namespace, labels: componentLabels(component) },
          spec: {
            backoffLimit: args.backoffLimit,
            activeDeadlineSeconds: args.timeoutSeconds,
            template: {
              metadata: {
                labels: componentLabels(component),
                annotations: { 'obkit.io/revision': String(args.revision), 'checksum/environment': checksum },
              },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: RUN_AS,
                  runAsGroup: RUN_AS,
                  fsGroup: RUN_AS,
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                containers: [
                  {
                    name: component,
                    image: args.image,
                    command: ['node'],
                    args: ['bin/obkit.ts', command, '--environment', ENVIRONMENT_FILE],
                    env: [
                      secretEnv('OBKIT__OBKIT__ADMIN__USERNAME', args.secrets.admin, 'username'),
                      secretEnv('OBKIT_ADMIN_PASSWORD', args.secrets.admin, 'password'),
                    ],
                    securityContext: {
                      runAsNonRoot: true,
                      runAsUser: RUN_AS,
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ['ALL'] },
                    },
                    resources: {
                      requests: { cpu: '50m', memory: '128Mi' },
                      limits: { cpu: '500m', memory: '256Mi' },
                    },
                    volumeMounts: [
                      { name: 'environment', mountPath: MOUNTS.environment, readOnly: true },
                      { name: 'server-ca', mountPath: MOUNTS.serverCa, readOnly: true },
                      { name: 'truststore', mountPath: MOUNTS.truststore, readOnly: true },
                      ...(args.secrets.smokeClient
                        ? [{ name: 'smoke-client', mountPath: MOUNTS.smokeClient, readOnly: true }]
                        : []),
                      { name: 'tmp', mountPath: '/tmp' },
                    ],
                  },
                ],
                volumes: [
                  { name: 'environment', configMap: { name: environment.metadata.name } },
                  { name: 'server-ca', secret: { secretName: args.secrets.serverCa } },
                  { name: 'truststore', secret: { secretName: args.secrets.truststore } },
                  ...(args.secrets.smokeClient
                    ? [
                        {
                          name: 'smoke-client',
                          secret: { secretName: args.secrets.smokeClient, defaultMode: 0o440 },
                        },
                      ]
                    : []),
                  { name: 'tmp', emptyDir: {} },
                ],
              },
            },
          },
        },
        { parent: this, dependsOn, customTimeouts: { create: `${args.timeoutSeconds + 60}s` } },
      );
    const configure = job('configure', 'configure', args.after);
    const smoke = job('smoke', 'smoke', [configure]);
    this.configureJob = configure.metadata.name;
    this.smokeJob = smoke.metadata.name;
    this.registerOutputs({ configureJob: this.configureJob, smokeJob: this.smokeJob });
  }
}

function jobSelector(component: string): Record<string, string> {
  const labels = componentLabels(component);
  return {
    'app.kubernetes.io/name': labels['app.kubernetes.io/name']!,
    'app.kubernetes.io/component': component,
  };
}

function secretEnv(name: string, secretName: pulumi.Input<string>, key: string) {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}
