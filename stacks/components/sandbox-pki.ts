import * as pulumi from '@pulumi/pulumi';
import { serviceDnsNames } from '../names.ts';
import { issued, type PkiSecrets, pemBundle, selfSignedCa } from './pki-resources.ts';
import { createPkiSecrets } from './pki-secrets.ts';

export interface SandboxPkiArgs {
  namespace: pulumi.Input<string>;
  namespaceName: string;
  /** Public host name of the gateway, added to the server certificate. */
  hostname: string;
  /** More CAs trusted for recipients (stack config extraCaCertificates). */
  extraCaCertificates?: string;
}

const SANDBOX = 'obkit sandbox';

/**
 * The sandbox PKI, generated (the Kubernetes twin of lib/pki's `obkit up` PKI, same shape and subjects):
 * root CA → issuing CA → the services' server certificate (SANs: every in-cluster Service name and the
 * public host name) and the smoke test recipient's transport certificate; plus the internal CA.
 * Everything is labelled `pki.obkit.io/origin: sandbox`, which the policy pack refuses in production.
 */
export class SandboxPki extends pulumi.ComponentResource implements PkiSecrets {
  public readonly serverTls: pulumi.Output<string>;
  public readonly truststore: pulumi.Output<string>;
  public readonly serverCa: pulumi.Output<string>;
  public readonly internalCa: pulumi.Output<string>;
  public readonly gatewayInternalClient: pulumi.Output<string>;
  public readonly bankingInternalClient: pulumi.Output<string>;
  public readonly smokeClient: pulumi.Output<string>;
  public readonly caBundle: pulumi.Output<string>;
  public readonly truststoreChecksum: pulumi.Output<string>;

  constructor(name: string, args: SandboxPkiArgs, opts?: pulumi.ComponentResourceOptions) {
    super('obkit:pki:SandboxPki', name, {}, opts);
    const root = selfSignedCa(
      `${name}-root-ca`,
      { commonName: 'obkit sandbox root CA', organization: SANDBOX },
      3650,
      this,
    );
    const issuing = issued(
      `${name}-issuing-ca`,
      {
        subject: { commonName: 'obkit sandbox issuing CA', organization: SANDBOX },
        issuer: root,
        days: 1825,
        usage: 'ca',
      },
      this,
    );
    const server = issued(
      `${name}-server`,
      {
        subject: { commonName: 'obkit services', organization: SANDBOX },
        issuer: issuing,
        days: 825,
        usage: 'server',
        dnsNames: [...serviceDnsNames(args.namespaceName), args.hostname],
      },
      this,
    );
    const smoke = issued(
      `${name}-smoke-client`,
      {
        subject: { commonName: 'obkit-sandbox-adr', organization: SANDBOX },
        issuer: issuing,
        days: 825,
        usage: 'client',
      },
      this,
    );
    const caBundle = pemBundle(root.certificatePem, issuing.certificatePem);
    const secrets = createPkiSecrets(
      name,
      { namespace: args.namespace, origin: 'sandbox', bankingClient: true },
      {
        server: {
          chain: pemBundle(server.certificatePem, issuing.certificatePem),
          key: server.privateKeyPem,
        },
        truststore: caBundle,
        extraCaCertificates: args.extraCaCertificates,
        caBundle,
        smokeClient: {
          chain: pemBundle(smoke.certificatePem, issuing.certificatePem),
          key: smoke.privateKeyPem,
        },
      },
      this,
    );
    this.serverTls = secrets.serverTls;
    this.truststore = secrets.truststore;
    this.serverCa = secrets.serverCa;
    this.internalCa = secrets.internalCa;
    this.gatewayInternalClient = secrets.gatewayInternalClient;
    this.bankingInternalClient = secrets.bankingInternalClient!;
    this.smokeClient = secrets.smokeClient;
    this.caBundle = secrets.caBundle;
    this.truststoreChecksum = secrets.truststoreChecksum;
    this.registerOutputs(secrets);
  }
}
