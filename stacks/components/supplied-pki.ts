import * as pulumi from '@pulumi/pulumi';
import type { SuppliedPkiConfig } from '../config.ts';
import { type PkiSecrets, pemBundle } from './pki-resources.ts';
import { createPkiSecrets } from './pki-secrets.ts';

export interface SuppliedPkiArgs {
  namespace: pulumi.Input<string>;
  pki: SuppliedPkiConfig;
  /** More CAs trusted for recipients (stack config extraCaCertificates). */
  extraCaCertificates?: string;
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
  public readonly truststoreChecksum: pulumi.Output<string>;

  constructor(name: string, args: SuppliedPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:pki:SuppliedPki', name, {}, opts);
    const { pki } = args;
    const secrets = createPkiSecrets(
      name,
      { namespace: args.namespace, origin: 'supplied' },
      {
        server: { chain: pemBundle(pki.serverCertificate), key: pki.serverPrivateKey },
        truststore: pemBundle(pki.caCertificates),
        extraCaCertificates: args.extraCaCertificates,
        caBundle: pemBundle(pki.serverCaCertificates),
        smokeClient:
          pki.smokeClientCertificate && pki.smokeClientPrivateKey
            ? { chain: pemBundle(pki.smokeClientCertificate), key: pki.smokeClientPrivateKey }
            : undefined,
      },
      this,
    );
    this.serverTls = secrets.serverTls;
    this.truststore = secrets.truststore;
    this.serverCa = secrets.serverCa;
    this.internalCa = secrets.internalCa;
    this.gatewayInternalClient = secrets.gatewayInternalClient;
    if (secrets.smokeClient) this.smokeClient = secrets.smokeClient;
    this.caBundle = secrets.caBundle;
    this.truststoreChecksum = secrets.truststoreChecksum;
    this.registerOutputs(secrets);
  }
}
