import * as pulumi from '@pulumi/pulumi';
import type { SuppliedPkiConfig } from '../config.ts';
import { SECRETS } from '../names.ts';
import { InternalPki } from './internal-pki.ts';
import { type PkiSecrets, pemBundle, pkiSecret } from './pki-resources.ts';

export interface SuppliedPkiArgs {
  namespace: pulumi.Input<string>;
  pki: SuppliedPkiConfig;
}

/**
 * The production PKI, supplied: the CDR root and issuing CAs (the truststore for recipients' transport
 * certificates), the server certificate and key, and optionally the smoke test recipient's transport
 * certificate, all from stack config (keys as secrets). Only the internal CA is generated here.
 */
export class SuppliedPki extends pulumi.ComponentResource implements PkiSecrets {
  public readonly serverTls: pulumi.Output<string>;
  public readonly truststore: pulumi.Output<string>;
  public readonly serverCa: pulumi.Output<string>;
  public readonly internalCa: pulumi.Output<string>;
  public readonly gatewayInternalClient: pulumi.Output<string>;
  public readonly smokeClient?: pulumi.Output<string>;
  public readonly caBundle: pulumi.Output<string>;

  constructor(name: string, args: SuppliedPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:pki:SuppliedPki', name, {}, opts);
    const { pki } = args;
    const secret = (
      key: keyof typeof SECRETS,
      stringData: Record<string, pulumi.Input<string>>,
      type?: string,
    ) =>
      pkiSecret(
        `${name}-${key}`,
        {
          namespace: args.namespace,
          name: SECRETS[key],
          origin: 'supplied',
          stringData,
          ...(type ? { type } : {}),
        },
        this,
      ).metadata.name;
    this.caBundle = pemBundle(pki.serverCaCertificates);
    this.serverTls = secret(
      'serverTls',
      { 'tls.crt': pemBundle(pki.serverCertificate), 'tls.key': pki.serverPrivateKey },
      'kubernetes.io/tls',
    );
    this.truststore = secret('truststore', { 'ca-bundle.pem': pemBundle(pki.caCertificates) });
    this.serverCa = secret('serverCa', { 'ca.crt': this.caBundle });
    if (pki.smokeClientCertificate && pki.smokeClientPrivateKey) {
      this.smokeClient = secret(
        'smokeClient',
        { 'tls.crt': pemBundle(pki.smokeClientCertificate), 'tls.key': pki.smokeClientPrivateKey },
        'kubernetes.io/tls',
      );
    }
    const internal = new InternalPki(`${name}-internal`, { namespace: args.namespace }, { parent: this });
    this.internalCa = internal.internalCaSecret;
    this.gatewayInternalClient = internal.gatewayInternalClientSecret;
    this.registerOutputs({
      serverTls: this.serverTls,
      truststore: this.truststore,
      serverCa: this.serverCa,
      internalCa: this.internalCa,
      gatewayInternalClient: this.gatewayInternalClient,
      smokeClient: this.smokeClient,
      caBundle: this.caBundle,
    });
  }
}
