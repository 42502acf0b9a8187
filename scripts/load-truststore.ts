#!/usr/bin/env node
// Console step "import the CA certificates into the truststores": add, list or remove CAs by alias.
import { parseCommandLine } from './lib/command-line.ts';
import { runAndReport } from './lib/report.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';
import { editTruststore, isTruststoreAction, targetTruststore } from './lib/truststore.ts';

const USAGE = `Usage: scripts/load-truststore.ts add CERT.pem... [--alias NAME]
       scripts/load-truststore.ts list
       scripts/load-truststore.ts remove ALIAS...

Edits the truststore of recipients' CAs that the gateway and the identity server share. Native obkit
targets keep a PEM bundle that the services re-read on change (no restart); WSO2 targets edit the
truststore the servers are configured with, in its format: JKS (default client-truststore.jks, through
keytool) or PKCS12 (--truststore FILE.p12); entries obkit did not add are kept. A certificate already
trusted is "unchanged"; a new one, or a new certificate under an existing alias, is "updated".

  --alias NAME           alias of the added certificate (a bundle gets NAME, NAME-2, …); default its CN

${TARGET_HELP}`;

const { values, positionals } = parseCommandLine(
  'scripts/load-truststore.ts',
  { options: { ...targetOptions, alias: { type: 'string' } }, allowPositionals: true },
  USAGE,
);
const [action = 'list', ...rest] = positionals;
if (!isTruststoreAction(action)) {
  console.log(USAGE);
  process.exit(2);
}

await runAndReport(values.json, async () => {
  const target = await resolveTarget(values);
  return [await editTruststore(targetTruststore(target), action, rest, values.alias, target)];
});
