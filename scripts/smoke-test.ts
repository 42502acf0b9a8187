#!/usr/bin/env node
// The smoke registration, as an Accredited Data Recipient: SSA → POST → token → GET/PUT/DELETE, plus refusals.
import { parseCommandLine } from './lib/command-line.ts';
import { runAndReport, withProgress } from './lib/report.ts';
import { givenRecipientOptions, readGivenRecipient, runSmokeTest } from './lib/smoke.ts';
import { resolveTarget, TARGET_HELP, targetOptions } from './lib/target.ts';

const USAGE = `Usage: scripts/smoke-test.ts [--ssa FILE] [--signing-key JWK.json] [target options]

Checks discovery and the JWKS, that the gateway refuses an untrusted client certificate, then registers
through the gateway over mutual TLS (201, client_id, SSA returned unmodified, metadata), gets a
certificate-bound client_credentials token with private_key_jwt, GETs, PUTs and DELETEs the
registration and proves a request with a bad signature is rejected. Deletes what it registered.
The SSA comes from the sandbox Register (obkit's, or --register URL beside WSO2: a fresh software
product whose JWKS it hosts, of --signing-key's key when given), or from --ssa with the recipient's
private signing key (--signing-key JWK). The transport certificate is --client-cert/--client-key. A
production target without an SSA gets the checks that need none, plus the rejection of a self-signed SSA.

${TARGET_HELP}`;

const { values } = parseCommandLine(
  'scripts/smoke-test.ts',
  { options: { ...targetOptions, ...givenRecipientOptions } },
  USAGE,
);

await runAndReport(values.json, async () => {
  const target = await resolveTarget(values);
  const given = await readGivenRecipient(values);
  return [
    await withProgress('smoke test', values.json, (progress) =>
      runSmokeTest(target, { progress, ...(given ? { given } : {}) }),
    ),
  ];
});
