import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { basicAuthorization, DCR_BACKEND_VAULT_ALIAS } from '../../lib/config/index.ts';
import { componentLabels, SECRETS } from '../names.ts';

export interface DcrBackendCredentialArgs {
  namespace: pulumi.Input<string>;
  /** Supplied password (required in production); when absent a random one is generated (sandbox). */
  password?: pulumi.Output<string>;
}

/** The username the identity server expects of the gateway (obkit.dcr_backend.username's default). */
const USERNAME = 'obkit-gateway';

/**
 * The gateway's own credential for the identity server's DCR backend (never the admin's), in one Secret:
 * `username` and `password` for identity-server's environment, and the `Authorization` value under the
 * vault alias that the gateway's pods mount as their secure vault. Secret Outputs all the way.
 */
export class DcrBackendCredential extends pulumi.ComponentResource {
  public readonly secretName: pulumi.Output<string>;

  constructor(name: string, args: DcrBackendCredentialArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:k8s:DcrBackendCredential', name, {}, opts);
    const password = pulumi.secret(
      args.password ??
        new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent: this })
          .result,
    );
    const secret = new k8s.core.v1.Secret(
      name,
      {
        metadata: {
          name: SECRETS.dcrBackend,
          namespace: args.namespace,
          labels: componentLabels('dcr-backend'),
        },
        type: 'Opaque',
        stringData: {
          username: USERNAME,
          password,
          [DCR_BACKEND_VAULT_ALIAS]: pulumi.secret(
            password.apply((value) => basicAuthorization(USERNAME, value)),
          ),
        },
      },
      { parent: this },
    );
    this.secretName = secret.metadata.name;
    this.registerOutputs({ secretName: this.secretName });
  }
}
