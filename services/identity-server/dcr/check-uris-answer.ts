import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import { DESCRIPTIVE_URIS } from './check-hostnames.ts';
import type { RegistrationContext } from './context.ts';

/** `enable_uri_validation`: logo/client/policy/tos URIs answer HTTP 200 (fetched under the SSRF policy). */
export async function checkUrisAnswer(context: RegistrationContext): Promise<void> {
  const { deps } = context.runtime;
  if (!deps.config.open_banking_cds.dcr.enable_uri_validation) return;
  await Promise.all(
    DESCRIPTIVE_URIS.map(async (claim) => {
      const uri = context.ssa[claim];
      if (typeof uri !== 'string') return;
      let status: number;
      try {
        status = (await deps.outbound.get(uri, '*/*')).status;
      } catch (error) {
        // The fetch error names the URI and keeps internal detail for the log.
        throw new InvalidClientMetadata(`URI validation failed: ${claim}: ${(error as Error).message}`);
      }
      if (status !== 200) {
        throw new InvalidClientMetadata(`URI validation failed: ${claim} ${uri} answered HTTP ${status}`);
      }
    }),
  );
}
