import { runAndReport } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { editTruststore, isTruststoreAction, targetTruststore } from '../truststore.ts';
import { defineCommand, usageError } from './command.ts';

export const truststoreCommand = defineCommand({
  options: { ...targetOptions, alias: { type: 'string' } },
  positionals: true,
  usage: (invocation) => `Usage: ${invocation} add CERT.pem... [--alias NAME] [target options]
       ${invocation} list [target options]
       ${invocation} remove ALIAS... [target options]

The truststore of recipients' CAs shared by the gateway and the identity server. Native obkit targets
keep a PEM bundle that the services re-read on change (no restart). WSO2 targets edit its truststore
in its format: --truststore FILE.jks (JKS, through keytool; the default client-truststore.jks) or
FILE.p12 (PKCS12); entries obkit did not add are kept. On Kubernetes the truststore is a Secret: add
and remove print the Pulumi and kubectl commands that change it. A certificate already trusted is
"unchanged"; a new one, or a new certificate under an existing alias, is "updated".

  --alias NAME           alias of an added certificate (a bundle gets NAME, NAME-2, …); default its CN

${TARGET_HELP}`,
  run: async ({ values, positionals }, invoked) => {
    const [action, ...rest] = positionals;
    if (!isTruststoreAction(action) || (action !== 'list' && !rest.length)) return usageError(invoked);
    await runAndReport(Boolean(values.json), async () => {
      const target = await resolveTarget(values as TargetFlags);
      return [await editTruststore(targetTruststore(target), action, rest, values.alias, target)];
    });
  },
});
