import { randomUUID } from 'node:crypto';
import { InvalidClient, InvalidClientMetadata } from '../../../lib/http/errors.ts';
import { isUniqueViolation, type Queryable } from '../../../lib/storage/index.ts';
import type { RegistrationContext, StoredClient } from './context.ts';
import { rememberJti } from './replay-cache.ts';

const SOURCE = 'cdr-dcr';
const DUPLICATE = 'Duplicate registrations for a given software_id are not valid';
const REQUEST_REPLAYED = 'JTI value of the registration request has been replayed';
const SSA_REPLAYED = 'JTI value of the software statement has been replayed';
/** Lifetime given to a request jti when its JWT has no `exp` (only when configured optional). */
const DEFAULT_JTI_LIFETIME = 300;

/**
 * Creates the client. The replay entries and the client row are written in ONE transaction, so a
 * replayed or duplicate request persists nothing; one registration per `software_id` is the table's
 * UNIQUE constraint, so concurrent twins produce exactly one client whatever the interleaving.
 */
export async function insertClient(context: RegistrationContext): Promise<StoredClient> {
  const client: StoredClient = {
    client_id: randomUUID(),
    software_id: context.ssa.software_id as string,
    metadata: {},
    registration: context.registration,
    software_statement: context.softwareStatement,
    client_id_issued_at: Math.floor(Date.now() / 1000),
  };
  client.metadata = { client_id: client.client_id, ...context.metadata };
  try {
    await context.runtime.deps.db.transaction(async (tx) => {
      await rememberJtis(tx, context);
      await tx.query(
        `INSERT INTO clients (client_id, source, software_id, metadata, registration, software_statement, client_id_issued_at)
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7)`,
        [
          client.client_id,
          SOURCE,
          client.software_id,
          JSON.stringify(client.metadata),
          JSON.stringify(client.registration),
          client.software_statement,
          client.client_id_issued_at,
        ],
      );
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new InvalidClientMetadata(DUPLICATE);
    throw error;
  }
  return client;
}

/** Replaces the registration of an existing client, keeping `client_id` and `client_id_issued_at`. */
export async function updateClient(
  context: RegistrationContext,
  existing: StoredClient,
): Promise<StoredClient> {
  const client: StoredClient = {
    ...existing,
    metadata: { client_id: existing.client_id, ...context.metadata },
    registration: context.registration,
    software_statement: context.softwareStatement,
  };
  await context.runtime.deps.db.transaction(async (tx) => {
    await rememberJtis(tx, context);
    const result = await tx.query(
      `UPDATE clients SET metadata = $2::jsonb, registration = $3::jsonb, software_statement = $4, updated_at = now()
       WHERE client_id = $1 AND source = $5`,
      [
        client.client_id,
        JSON.stringify(client.metadata),
        JSON.stringify(client.registration),
        client.software_statement,
        SOURCE,
      ],
    );
    // Deleted by a concurrent DELETE: roll back the replay entries with the rest.
    if (result.rowCount === 0) throw new InvalidClient('the client is not registered');
  });
  return client;
}

export async function findClient(db: Queryable, clientId: string): Promise<StoredClient | undefined> {
  const result = await db.query<StoredClient>(
    `SELECT client_id, software_id, metadata, registration, software_statement, client_id_issued_at
     FROM clients WHERE client_id = $1 AND source = $2`,
    [clientId, SOURCE],
  );
  return result.rows[0];
}

export async function deleteClient(db: Queryable, clientId: string): Promise<boolean> {
  const result = await db.query('DELETE FROM clients WHERE client_id = $1 AND source = $2', [
    clientId,
    SOURCE,
  ]);
  return result.rowCount > 0;
}

async function rememberJtis(tx: Queryable, context: RegistrationContext): Promise<void> {
  const toggles = context.runtime.deps.config.open_banking_cds.dcr;
  const skew = context.runtime.rules.clockSkewSeconds;
  const { claims, ssa } = context;
  if (toggles.request_jti_validation_enabled && typeof claims.jti === 'string') {
    const expiresAt = (claims.exp ?? Math.floor(Date.now() / 1000) + DEFAULT_JTI_LIFETIME) + skew;
    await rememberJti(tx, 'dcr-request', claims.jti, expiresAt, REQUEST_REPLAYED);
  }
  if (toggles.ssa_jti_validation_enabled) {
    await rememberJti(tx, 'dcr-ssa', ssa.jti as string, (ssa.exp as number) + skew, SSA_REPLAYED);
  }
}
