import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { componentLabels, SECRETS } from '../names.ts';

export interface EncryptionKeyArgs {
  namespace: pulumi.Input<string>;
  /** Supplied key, base64 of 32 bytes (required in production); when absent 32 random bytes (sandbox). */
  key?: pulumi.Output<string>;
}

/**
 * The key identity-server and api-manager encrypt their signing keys and client secrets with, kept
 * outside their database: a Secret with key `key` that the chart hands them as OBKIT_ENCRYPTION_KEY.
 * A secret Output from config or @pulumi/random to the Secret: never plain in state.
 */
export class EncryptionKey extends pulumi.ComponentResource {
  public readonly secretName: pulumi.Output<string>;

  constructor(name: string, args: EncryptionKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:EncryptionKey', name, {}, opts);
    const key = args.key ?? new random.RandomBytes(`${name}-bytes`, { length: 32 }, { parent: this }).base64;
    const secret = new k8s.core.v1.Secret(
      name,
      {
        metadata: {
          name: SECRETS.encryption,
          namespace: args.namespace,
          labels: componentLabels('encryption'),
        },
        type: 'Opaque',
        stringData: { key: pulumi.secret(key) },
      },
      { parent: this },
    );
    this.secretName = secret.metadata.name;
    this.registerOutputs({ secretName: this.secretName });
  }
}
