import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { componentLabels, SECRETS } from '../names.ts';

export interface AdminCredentialArgs {
  namespace: pulumi.Input<string>;
  username: string;
  /** Supplied password (required in production); when absent a random one is generated (sandbox). */
  password?: pulumi.Output<string>;
}

/**
 * The admin credential of identity-server and api-manager (never the gateway's: see DcrBackendCredential), in a
 * Secret with keys username and password that the chart and Jobs reference by name. The password is a
 * secret Output from config or @pulumi/random to the Secret: never plain in state.
 */
export class AdminCredential extends pulumi.ComponentResource {
  public readonly secretName: pulumi.Output<string>;
  public readonly username: pulumi.Output<string>;
  public readonly password: pulumi.Output<string>;

  constructor(name: string, args: AdminCredentialArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:AdminCredential', name, {}, opts);
    const password =
      args.password ??
      new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this }).result;
    this.password = pulumi.secret(password);
    this.username = pulumi.output(args.username);
    const secret = new k8s.core.v1.Secret(
      name,
      {
        metadata: { name: SECRETS.admin, namespace: args.namespace, labels: componentLabels('admin') },
        type: 'Opaque',
        stringData: { username: args.username, password: this.password },
      },
      { parent: this },
    );
    this.secretName = secret.metadata.name;
    this.registerOutputs({ secretName: this.secretName, username: this.username, password: this.password });
  }
}
