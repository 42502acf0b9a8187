import { runAndReport, withProgress } from '../report.ts';
import { givenRecipientOptions, readGivenRecipient, runSmokeTest } from '../smoke.ts';
import { reportedSmoke, SMOKE_REPORT_HELP, smokeReportFlags } from '../smoke-report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

export const smokeCommand = defineCommand({
  options: {
    ...targetOptions,
    ...givenRecipientOptions,
    ...smokeReportFlags,
    'no-registration': { type: 'boolean', default: false },
  },
  usage: (
    invocation,
  ) => `Usage: ${invocation} [--ssa FILE] [--signing-key JWK.json] [--no-registration] [reports] [target options]

As an Accredited Data Recipient: discovery and JWKS, refusal of an untrusted client certificate, a
registration through the gateway over mutual TLS (SSA from the sandbox Register — obkit's, or
--register URL — or --ssa), a
certificate-bound token with private_key_jwt, GET/PUT/DELETE of the registration and a rejected
request with a bad signature. In a sandbox running obkit's banking service, before the DELETE, the
data-sharing journey: PAR, the sandbox consent pages as form posts, JARM, tokens, the consented
accounts through the gateway, the arrangement revoked, then 401. Deletes what it registered.
Production without an SSA, or --no-registration: the checks that need none and the rejection of a
self-signed SSA; production never runs the data-sharing journey.

  --no-registration      only the checks that need no SSA (scheduled verification; no admin credential)

${SMOKE_REPORT_HELP}

Example:
  ${invocation} --junit reports/smoke.xml   # CI: one test case per check, the failing one as a failure

${TARGET_HELP}`,
  run: async ({ values }) => {
    const json = Boolean(values.json);
    await runAndReport(json, async () => {
      const target = await resolveTarget(values as TargetFlags);
      const given = await readGivenRecipient(values as { ssa?: string; 'signing-key'?: string });
      const reports = {
        junit: values.junit,
        metricsFile: values['metrics-file'],
        pushgateway: values.pushgateway,
        instance: target.manifest.kubernetes?.namespace ?? target.manifest.gateway.vhost,
      };
      return [
        await reportedSmoke(reports, () =>
          withProgress('smoke test', json, (progress) =>
            runSmokeTest(target, {
              progress,
              ...(given ? { given } : {}),
              ...(values['no-registration'] ? { registration: false } : {}),
            }),
          ),
        ),
      ];
    });
  },
});
