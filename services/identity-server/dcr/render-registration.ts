import type { StoredClient } from './context.ts';

/**
 * The registration as the recipient sees it: client_id and its issue time, the client metadata, the
 * SSA's metadata at the top level, and the software statement exactly as it was received.
 */
export function renderRegistration(client: StoredClient): Record<string, unknown> {
  return {
    client_id: client.client_id,
    client_id_issued_at: client.client_id_issued_at,
    ...client.metadata,
    ...client.registration,
    software_statement: client.software_statement,
  };
}
