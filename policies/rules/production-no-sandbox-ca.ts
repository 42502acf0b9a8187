import { X509Certificate } from 'node:crypto';
import type { ResourceValidationPolicy } from '@pulumi/policy';
import { environmentConfigSchema, environmentOf, PRODUCTION_HINT } from '../environment.ts';
import { dataValuesOf, type KubeObject, kindOf, labelsOf, nameOf, podTemplateOf } from '../kube.ts';
import { obkitTomlDocuments } from '../obkit-config.ts';

/** Label the stacks put on the Secrets of the PKI they generate (`sandbox`) or were given (`supplied`). */
export const PKI_ORIGIN_LABEL = 'pki.obkit.io/origin';
const SANDBOX_PKI_NAME = /sandbox[-_.]?(ca|pki)/i;
const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Subjects of certificates in the text that were issued by or are a sandbox CA (`O=obkit sandbox`). */
export function sandboxCertificates(text: string): string[] {
  const found: string[] = [];
  for (const pem of text.match(CERTIFICATE_PEM) ?? []) {
    try {
      const certificate = new X509Certificate(pem);
      if (/sandbox/i.test(certificate.subject) || /sandbox/i.test(certificate.issuer)) {
        found.push(certificate.subject.replaceAll('\n', ', '));
      }
    } catch {
      // Not a parseable certificate: nothing to say about its issuer.
    }
  }
  return found;
}

function referencedNames(podSpec: KubeObject): string[] {
  const volumes: KubeObject[] = podSpec.volumes ?? [];
  return volumes
    .flatMap((volume) => [
      volume.secret?.secretName,
      volume.configMap?.name,
      ...((volume.projected?.sources ?? []) as KubeObject[]).flatMap((source) => [
        source.secret?.name,
        source.configMap?.name,
      ]),
    ])
    .filter((name): name is string => typeof name === 'string');
}

/**
 * A production deployment trusts and presents only the supplied CDR PKI. The generated sandbox PKI's
 * keys sit in sandbox state and its CA would let anyone holding them pose as a recipient or the server.
 * Caught here: Secrets/ConfigMaps labelled or named as sandbox PKI, certificates issued by a sandbox CA,
 * pods mounting such objects, and obkit configured in sandbox mode (which generates the sandbox PKI).
 */
export const productionNoSandboxCa: ResourceValidationPolicy = {
  name: 'production-no-sandbox-ca',
  description: 'Production stacks must not use the generated sandbox PKI.',
  enforcementLevel: 'mandatory',
  configSchema: environmentConfigSchema,
  validateResource: (args, reportViolation) => {
    if (environmentOf(args) !== 'production') args.notApplicable('not a production stack');
    const kind = kindOf(args.type);
    const name = nameOf(args.props, args.name);
    if (kind === 'Secret' || kind === 'ConfigMap') {
      if (labelsOf(args.props)[PKI_ORIGIN_LABEL] === 'sandbox' || SANDBOX_PKI_NAME.test(name)) {
        reportViolation(`${kind} '${name}' is sandbox PKI ${PRODUCTION_HINT}.`);
      }
      for (const [key, value] of dataValuesOf(kind, args.props)) {
        for (const subject of sandboxCertificates(value)) {
          reportViolation(
            `${kind} '${name}' key '${key}' holds a sandbox certificate (${subject}) ${PRODUCTION_HINT}.`,
          );
        }
      }
      for (const document of obkitTomlDocuments(kind, args.props)) {
        if (document.obkit.mode !== 'production') {
          reportViolation(
            `ConfigMap '${name}' (${document.key}) configures obkit in ${String(document.obkit.mode ?? 'sandbox (default)')} mode, which generates the sandbox PKI ${PRODUCTION_HINT}.`,
          );
        }
      }
      return;
    }
    const template = podTemplateOf(kind, args.props);
    for (const referenced of template ? referencedNames(template.spec) : []) {
      if (SANDBOX_PKI_NAME.test(referenced)) {
        reportViolation(`${kind} '${name}' mounts '${referenced}', sandbox PKI ${PRODUCTION_HINT}.`);
      }
    }
  },
};
