import { conformanceTargetFlags, formatReport, runConformance, writeJunit } from '../conformance/index.ts';
import { stderrProgress } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand, usageError } from './command.ts';

export const conformanceCommand = defineCommand({
  options: { ...targetOptions, junit: { type: 'string' } },
  positionals: true,
  usage: (
    invocation,
  ) => `Usage: ${invocation} dcr [--target native|wso2|MANIFEST] [--junit FILE] [--json] [target options]

As an Accredited Data Recipient, checks every rule of docs/dcr-rules.md against the Data Holder's
gateway and token endpoint, accepting and rejecting: request signatures and algorithms (alg none,
HS256, RS256), audience, issuer, expiry and jti replay, required claims and metadata values, the SSA,
redirect URIs against the SSA, duplicate software_id, untrusted, expired and non-client certificates,
GET/PUT/DELETE authorisation (no, malformed, revoked, other client's, unbound or narrow tokens) and
certificate-bound tokens. SSAs come from the sandbox Register (obkit up's, or --register URL with its
admin); everything registered is deleted afterwards. Exits 0 only when no case failed; each failure
names the rule, the requests and the answers. Cases that need the sandbox CA key (expired, non-client
and second trusted certificates) are skipped, with the reason, when the manifest has none.

  --target MANIFEST      an environment manifest file (as --environment)
  --junit FILE           write a JUnit report (one test case per conformance case)

Example:
  ${invocation} dcr --junit reports/dcr-conformance.xml

${TARGET_HELP}`,
  run: async ({ values, positionals }, invoked) => {
    if (positionals.length !== 1 || positionals[0] !== 'dcr') return usageError(invoked);
    const json = Boolean(values.json);
    try {
      const target = await resolveTarget(conformanceTargetFlags(values as TargetFlags));
      const report = await runConformance(target, json ? {} : { progress: stderrProgress('  ') });
      if (values.junit) await writeJunit(values.junit, report);
      process.stdout.write(
        json
          ? `${JSON.stringify({ ok: report.failed === 0, ...report }, null, 2)}\n`
          : `${formatReport(report)}\n`,
      );
      process.exitCode = report.failed === 0 ? 0 : 1;
    } catch (error) {
      const message = (error as Error).message;
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message }, null, 2)}\n`);
      else console.error(`${invoked.invocation}: ${message}`);
      process.exitCode = 1;
    }
  },
});
