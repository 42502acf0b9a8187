import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import { SECRETS } from '../names.ts';
import { InternalPki } from './internal-pki.ts';
import { type PkiOrigin, type PkiSecrets, pkiSecret } from './pki-resources.ts';

/** A PEM certificate chain (leaf first) and its private key. */
export interface TlsPair {
  chain: pulumi.Input<string>;
  key: pulumi.Input<string>;
}

/** What a PKI variant generates or is supplied with; the Secrets are the same for every variant. */
export interface PkiMaterial {
  /** The services' server certificate. */
  server: TlsPair;
  /** The CAs trusted for recipients' transport certificates. */
  truststore: pulumi.Input<string>;
  /** More CAs for the truststore (stack config extraCaCertificates). */
  extraCaCertificates?: string;
  /** The CAs clients use to verify the servers. */
  caBundle: pulumi.Output<string>;
  /** The smoke test recipient's transport certificate, when there is one. */
  smokeClient?: TlsPair | undefined;
}

export interface PkiSecretsArgs {
  namespace: pulumi.Input<string>;
  origin: PkiOrigin;
  /** Sandbox: also issue the banking service's internal client certificate. */
  bankingClient?: boolean;
}

/**
 * The Secrets of a PKI component (children of `parent`, labelled with `origin`) and its internal CA,
 * which is generated in every environment.
 */
export function createPkiSecrets(
  name: string,
  args: PkiSecretsArgs,
  material: PkiMaterial & { smokeClient: TlsPair },
  parent: pulumi.Resource,
): PkiSecrets & { smokeClient: pulumi.Output<string> };
export function createPkiSecrets(
  name: string,
  args: PkiSecretsArgs,
  material: PkiMaterial,
  parent: pulumi.Resource,
): PkiSecrets;
export function createPkiSecrets(
  name: string,
  args: PkiSecretsArgs,
  material: PkiMaterial,
  parent: pulumi.Resource,
): PkiSecrets {
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
        origin: args.origin,
        stringData,
        ...(type ? { type } : {}),
      },
      parent,
    ).metadata.name;
  const tlsSecret = (key: keyof typeof SECRETS, pair: TlsPair) =>
    secret(key, { 'tls.crt': pair.chain, 'tls.key': pair.key }, 'kubernetes.io/tls');

  const serverTls = tlsSecret('serverTls', material.server);
  const bundle = pulumi
    .output(material.truststore)
    .apply((pem) =>
      material.extraCaCertificates ? `${pem.trim()}\n${material.extraCaCertificates.trim()}\n` : pem,
    );
  const truststore = secret('truststore', { 'ca-bundle.pem': bundle });
  const serverCa = secret('serverCa', { 'ca.crt': material.caBundle });
  const smokeClient = material.smokeClient ? tlsSecret('smokeClient', material.smokeClient) : undefined;
  const internal = new InternalPki(
    `${name}-internal`,
    { namespace: args.namespace, ...(args.bankingClient ? { bankingClient: true } : {}) },
    { parent },
  );
  return {
    serverTls,
    truststore,
    serverCa,
    internalCa: internal.internalCaSecret,
    gatewayInternalClient: internal.gatewayInternalClientSecret,
    ...(internal.bankingInternalClientSecret
      ? { bankingInternalClient: internal.bankingInternalClientSecret }
      : {}),
    ...(smokeClient ? { smokeClient } : {}),
    caBundle: material.caBundle,
    truststoreChecksum: bundle.apply((pem) => createHash('sha256').update(pem).digest('hex')),
  };
}
