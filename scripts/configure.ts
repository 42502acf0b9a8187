#!/usr/bin/env node
// Every console step in WSO2's order: key manager → publish APIs → truststores → restart → smoke test.
import { parseCommandLine } from './lib/command-line.ts';
import { configure, configureFlags, configureOptionsFrom } from './lib/configure.ts';
import { runAndReport, withProgress } from './lib/report.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';

const USAGE = `Usage: scripts/configure.ts [options] [target options]

Runs configure-key-manager, publish-dcr-api, publish-banking-api (where the target runs obkit's banking
service), load-truststore, restart (only where the target needs it
and the truststore changed) and smoke-test, in WSO2's order. Each step reports unchanged or updated.

  --definition FILE --insequence FILE   the DCR API to publish (default apis/cdr-dcr/0.2/)
  --trust FILE           CA certificates for the truststores (repeatable; sandbox default: its CA)
  --ssa FILE --signing-key JWK.json     smoke-test with a given SSA (see smoke-test.ts --help); with
                         --register URL, --signing-key alone: the key the Register hosts
  --no-smoke             skip the smoke test

${TARGET_HELP}`;

const { values } = parseCommandLine(
  'scripts/configure.ts',
  { options: { ...targetOptions, ...configureFlags } },
  USAGE,
);

await runAndReport(values.json, async () => {
  const target = await resolveTarget(values);
  const options = await configureOptionsFrom(values);
  return withProgress('configuring', values.json, (progress) => configure(target, { ...options, progress }));
});
