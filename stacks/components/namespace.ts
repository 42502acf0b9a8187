import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

export interface NamespaceArgs {
  name: string;
  environment: string;
}

/**
 * The namespace obkit runs in, with the Pod Security Standard "restricted" enforced: the API server
 * itself then refuses root, privilege escalation or host access, whatever a chart or Job asks for.
 */
export class Namespace extends pulumi.ComponentResource {
  public readonly name: pulumi.Output<string>;

  constructor(name: string, args: NamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:Namespace', name, {}, opts);
    const namespace = new k8s.core.v1.Namespace(
      name,
      {
        metadata: {
          name: args.name,
          labels: {
            'app.kubernetes.io/part-of': 'obkit',
            'obkit.io/environment': args.environment,
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      },
      { parent: this },
    );
    this.name = namespace.metadata.name;
    this.registerOutputs({ name: this.name });
  }
}
