import * as pulumi from '@pulumi/pulumi';
import { SECRETS } from '../names.ts';
import { issued, pkiSecret, selfSignedCa } from './pki-resources.ts';

export interface InternalPkiArgs {
  namespace: pulumi.Input<string>;
}

/**
 * The deployment's internal CA and the gateway's internal client certificate (CN=obkit-gateway) for the
 * gateway → services mutual TLS. A CA of its own in every environment, never one that issues
 * recipients' certificates, so no recipient can pose as the gateway (design.md, "Who may forward it").
 */
export class InternalPki extends pulumi.ComponentResource {
  public readonly internalCaSecret: pulumi.Output<string>;
  public readonly gatewayInternalClientSecret: pulumi.Output<string>;

  constructor(name: string, args: InternalPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:pki:InternalPki', name, {}, opts);
    const ca = selfSignedCa(
      `${name}-ca`,
      { commonName: 'obkit internal CA', organization: 'obkit internal' },
      3650,
      this,
    );
    const gateway = issued(
      `${name}-gateway-client`,
      {
        subject: { commonName: 'obkit-gateway', organization: 'obkit internal' },
        issuer: ca,
        days: 825,
        usage: 'client',
      },
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
    const clientSecret = pkiSecret(
      `${name}-gateway-client`,
      {
        namespace: args.namespace,
        name: SECRETS.gatewayInternalClient,
        origin: 'internal',
        type: 'kubernetes.io/tls',
        stringData: {
          'tls.crt': gateway.certificatePem,
          'tls.key': gateway.privateKeyPem,
          'ca.crt': ca.certificatePem,
        },
      },
      this,
    );
    this.internalCaSecret = caSecret.metadata.name;
    this.gatewayInternalClientSecret = clientSecret.metadata.name;
    this.registerOutputs({
      internalCaSecret: this.internalCaSecret,
      gatewayInternalClientSecret: this.gatewayInternalClientSecret,
    });
  }
}
