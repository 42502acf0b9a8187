import { publishStep } from '../configure.ts';
import { runAndReport, withProgress } from '../report.ts';
import { resolveTarget, TARGET_HELP, type TargetFlags, targetOptions } from '../target.ts';
import { defineCommand } from './command.ts';

/** Console step "publish the DCR API" (scripts/publish-dcr-api.ts). */
export const publishDcrApiCommand = defineCommand({
  options: { ...targetOptions, definition: { type: 'string' }, insequence: { type: 'string' } },
  usage: (invocation) => `Usage: ${invocation} [--definition FILE] [--insequence FILE] [target options]

Imports the CDR DCR API (default: apis/cdr-dcr/0.2/), sets the identity server's DCR endpoint and the
Unlimited business plan, uploads the request in-sequence — its Authorization header a lookup of the
gateway's secure vault, wso2:vault-lookup('obkit.dcr.backend.authorization'), never a credential (the
literal Basic value of WSO2's au-dcr-insequence-0.2.xml is replaced by that lookup) — creates a
revision (deleting the oldest undeployed one at the limit of 5), deploys it to the gateway environment
(--gateway-environment, default Default) with the vhost (--vhost, default the gateway URL's host) and
publishes. Reports "unchanged" when all of that is already in place.

  --definition FILE      Swagger 2.0 / OpenAPI 3 definition (e.g. WSO2's au-dcr-swagger.yaml)
  --insequence FILE      request mediation sequence (e.g. WSO2's au-dcr-insequence-0.2.xml)

${TARGET_HELP}`,
  run: async ({ values }) => {
    const json = Boolean(values.json);
    await runAndReport(json, async () => {
      const target = await resolveTarget(values as TargetFlags);
      const files = { definitionFile: values.definition, inSequenceFile: values.insequence };
      return [
        await withProgress('publishing the DCR API', json, (progress) =>
          publishStep(target, files, progress),
        ),
      ];
    });
  },
});
