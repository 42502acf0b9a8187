import * as pulumi from '@pulumi/pulumi';
import { SECRETS } from '../names.ts';
import { issued, pkiSecret, selfSignedCa } from './pki-resources.ts';

export interface InternalPkiArgs {
  namespace: pulumi.Input<string>;
  /** Sandbox: also the banking service's client certificate (CN=obkit-banking) for /internal/arrangements. */
  bankingClient?: boolean;
}

/**
 * The deployment's internal CA and the gateway's internal client certificate (CN=obkit-gateway) for the
 * gateway → services mutual TLS; in a sandbox also the banking service's (CN=obkit-banking), which the
 * identity server's /internal/arrangements accepts. A CA of its own in every environment, never one that issues
 * recipients' certificates, so no recipient can pose as the gateway (design.md, "Who may forward it").
 */
export class InternalPki extends pulumi.ComponentResource {
  public readonly internalCaSecret: pulumi.Output<string>;
  public readonly gatewayInternalClientSecret: pulumi.Output<string>;
  public readonly bankingInternalClientSecret?: pulumi.Output<string>;

  constructor(name: string, args: InternalPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:pki:InternalPki', name, {}, opts);
    const ca = selfSignedCa(
      `${name}-ca`,
      { commonName: 'obkit internal CA', organization: 'obkit internal' },
      3650,
      this,
    );
    const caSecret = pkiSecret(
      `${name}-ca`,
      {
        namespace: args.namespace,
        name: SECRETS.internalCa,
        origin: 'internal',
        stringData: { 'ca.crt': ca.certificatePem },
      },
      this,
    );
    const clientSecret = (key: 'gateway' | 'banking', secretName: string) => {
      const client = issued(
        `${name}-${key}-client`,
        {
          subject: { commonName: `obkit-${key}`, organization: 'obkit internal' },
          issuer: ca,
          days: 825,
          usage: 'client',
        },
        this,
      );
      return pkiSecret(
        `${name}-${key}-client`,
        {
          namespace: args.namespace,
          name: secretName,
          origin: 'internal',
          type: 'kubernetes.io/tls',
          stringData: {
            'tls.crt': client.certificatePem,
            'tls.key': client.privateKeyPem,
            'ca.crt': ca.certificatePem,
          },
        },
        this,
      ).metadata.name;
    };
    this.internalCaSecret = caSecret.metadata.name;
    this.gatewayInternalClientSecret = clientSecret('gateway', SECRETS.gatewayInternalClient);
    if (args.bankingClient) {
      this.bankingInternalClientSecret = clientSecret('banking', SECRETS.bankingInternalClient);
    }
    this.registerOutputs({
      internalCaSecret: this.internalCaSecret,
      gatewayInternalClientSecret: this.gatewayInternalClientSecret,
      bankingInternalClientSecret: this.bankingInternalClientSecret,
    });
  }
}
