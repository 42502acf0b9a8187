import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BANKING_API_NAME } from '../../lib/wso2/management-api.ts';
import type { PublisherApi } from './api-client/publisher.ts';
import { publishApi } from './dcr-api.ts';
import type { FingerprintKey } from './fingerprint.ts';
import type { Progress, StepResult } from './report.ts';

/**
 * The "publish the banking API" step: obkit's CDS Banking definition (apis/cds-banking/v1/) in front of
 * the banking service, by the same publisher steps as the DCR API, without mediation — the gateway itself
 * forwards the token's arrangement, which the banking service trusts on the gateway's connection only.
 */

export const BANKING_DEFINITION = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'apis',
  'cds-banking',
  'v1',
  'cds-banking.yaml',
);
/** The CDS base path, kept whole on both sides: the backend serves the same paths the recipient calls. */
const CONTEXT = '/cds-au/{version}';

export interface PublishBankingApiOptions {
  bankingUrl: string;
  vhost: string;
  gatewayEnvironment?: string | undefined;
  fingerprintKey: FingerprintKey;
  progress?: Progress | undefined;
  dryRun?: boolean | undefined;
}

export function publishBankingApi(
  publisher: PublisherApi,
  options: PublishBankingApiOptions,
): Promise<StepResult> {
  return publishApi(publisher, {
    ...options,
    step: 'publish-banking-api',
    name: BANKING_API_NAME,
    context: CONTEXT,
    definitionFile: BANKING_DEFINITION,
    endpoint: `${options.bankingUrl.replace(/\/+$/, '')}/cds-au/v1`,
  });
}
