import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import { MIN_RSA_BITS } from '../../lib/http/tls-profile.ts';
import { componentLabels, PKI_ORIGIN_LABEL } from '../names.ts';

/**
 * Building blocks of the PKI components: keys and certificates with @pulumi/tls, and the Kubernetes
 * Secrets that carry them. As in lib/pki's sandbox PKI, server certificates have RSA-2048 keys (the
 * FAPI TLS 1.2 suites are RSA-authenticated, lib/http/tls-profile.ts) and the rest ECDSA P-256.
 * Private keys are secret Outputs from creation to the Secret; the chart and Jobs only ever see the
 * Secret's name.
 */

const CA_USES = ['cert_signing', 'crl_signing', 'digital_signature'];
const HOURS_PER_DAY = 24;

export interface KeyPair {
  certificatePem: pulumi.Output<string>;
  privateKeyPem: pulumi.Output<string>;
}

export interface Subject {
  commonName: string;
  organization: string;
}

function privateKey(name: string, parent: pulumi.Resource, usage?: IssueArgs['usage']): tls.PrivateKey {
  const algorithm =
    usage === 'server'
      ? { algorithm: 'RSA', rsaBits: MIN_RSA_BITS }
      : { algorithm: 'ECDSA', ecdsaCurve: 'P256' };
  return new tls.PrivateKey(name, algorithm, { parent });
}

export function selfSignedCa(name: string, subject: Subject, days: number, parent: pulumi.Resource): KeyPair {
  const key = privateKey(`${name}-key`, parent);
  const certificate = new tls.SelfSignedCert(
    name,
    {
      privateKeyPem: key.privateKeyPem,
      subject,
      isCaCertificate: true,
      allowedUses: CA_USES,
      validityPeriodHours: days * HOURS_PER_DAY,
    },
    { parent },
  );
  return { certificatePem: certificate.certPem, privateKeyPem: key.privateKeyPem };
}

export interface IssueArgs {
  subject: Subject;
  issuer: KeyPair;
  days: number;
  usage: 'ca' | 'server' | 'client';
  dnsNames?: pulumi.Input<string>[];
}

export function issued(name: string, args: IssueArgs, parent: pulumi.Resource): KeyPair {
  const key = privateKey(`${name}-key`, parent, args.usage);
  const request = new tls.CertRequest(
    `${name}-csr`,
    {
      privateKeyPem: key.privateKeyPem,
      subject: args.subject,
      ...(args.dnsNames ? { dnsNames: args.dnsNames } : {}),
    },
    { parent },
  );
  const uses = {
    ca: CA_USES,
    server: ['digital_signature', 'key_encipherment', 'server_auth'],
    client: ['digital_signature', 'client_auth'],
  }[args.usage];
  const certificate = new tls.LocallySignedCert(
    name,
    {
      certRequestPem: request.certRequestPem,
      caCertPem: args.issuer.certificatePem,
      caPrivateKeyPem: args.issuer.privateKeyPem,
      isCaCertificate: args.usage === 'ca',
      allowedUses: uses,
      validityPeriodHours: args.days * HOURS_PER_DAY,
    },
    { parent },
  );
  return { certificatePem: certificate.certPem, privateKeyPem: key.privateKeyPem };
}

/** PEM documents joined one per line block, as a chain or bundle file expects. */
export function pemBundle(...parts: pulumi.Input<string>[]): pulumi.Output<string> {
  return pulumi.all(parts).apply((pems) => `${pems.map((part) => part.trim()).join('\n')}\n`);
}

export type PkiOrigin = 'sandbox' | 'supplied' | 'internal';

export interface SecretArgs {
  namespace: pulumi.Input<string>;
  name: string;
  origin: PkiOrigin;
  type?: string;
  stringData: Record<string, pulumi.Input<string>>;
}

/** A Secret with a fixed name (the chart and Jobs reference it by name), labelled with its PKI origin. */
export function pkiSecret(
  resourceName: string,
  args: SecretArgs,
  parent: pulumi.Resource,
): k8s.core.v1.Secret {
  return new k8s.core.v1.Secret(
    resourceName,
    {
      metadata: {
        name: args.name,
        namespace: args.namespace,
        labels: { ...componentLabels('pki'), [PKI_ORIGIN_LABEL]: args.origin },
      },
      type: args.type ?? 'Opaque',
      stringData: args.stringData,
    },
    { parent },
  );
}

/** The Secret names every PKI variant provides, and the CA bundle clients use to verify the servers. */
export interface PkiSecrets {
  serverTls: pulumi.Output<string>;
  truststore: pulumi.Output<string>;
  serverCa: pulumi.Output<string>;
  internalCa: pulumi.Output<string>;
  gatewayInternalClient: pulumi.Output<string>;
  /** The banking service's internal client certificate; sandbox only, like the service. */
  bankingInternalClient?: pulumi.Output<string>;
  /** The smoke test recipient's transport certificate; absent when production supplies none. */
  smokeClient?: pulumi.Output<string>;
  caBundle: pulumi.Output<string>;
  /** sha256 of the truststore bundle (pod annotation: a new truststore rolls the pods). */
  truststoreChecksum: pulumi.Output<string>;
}
