import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';

/**
 * `enable_sector_identifier_uri_validation`: when the SSA names a `sector_identifier_uri`, the JSON
 * array it serves lists every redirect URI being registered (OpenID Connect Registration §5).
 */
export async function checkSectorIdentifier(context: RegistrationContext): Promise<void> {
  const { deps } = context.runtime;
  if (!deps.config.open_banking_cds.dcr.enable_sector_identifier_uri_validation) return;
  const uri = context.ssa.sector_identifier_uri;
  if (typeof uri !== 'string') return;
  let listed: unknown;
  try {
    listed = await deps.outbound.getJson(uri);
  } catch (error) {
    throw new InvalidClientMetadata(`sector identifier URI validation failed: ${(error as Error).message}`);
  }
  if (!Array.isArray(listed)) {
    throw new InvalidClientMetadata(
      'sector identifier URI validation failed: it does not serve a JSON array',
    );
  }
  const missing = context.redirectUris.filter((redirectUri) => !listed.includes(redirectUri));
  if (missing.length > 0) {
    throw new InvalidClientMetadata(
      `sector identifier URI validation failed: ${missing.join(', ')} not listed at ${uri}`,
    );
  }
}
