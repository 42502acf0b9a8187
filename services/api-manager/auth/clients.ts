import { randomBytes } from 'node:crypto';
import { hashSecret, type SecretBox, secretMatchesHash } from '../../../lib/secrets/index.ts';
import type { Queryable } from '../../../lib/storage/index.ts';
import { safeEqual } from './credentials.ts';

/**
 * OAuth clients of the resident key manager. A management client's secret is given back on every
 * idempotent registration (client-registration v0.17), so it is stored encrypted; an application's is
 * shown once, by generate-keys, and stored only as a hash.
 */
export interface ResidentClient {
  clientId: string;
  clientName: string;
  kind: 'management' | 'application';
  owner: string;
  /** A management client's secret; null for applications, whose secret is not kept. */
  clientSecret: string | null;
  grantTypes: string[];
  callbackUrl: string | null;
}

interface ClientRow {
  client_id: string;
  client_name: string;
  kind: 'management' | 'application';
  owner: string;
  secret_encrypted: string | null;
  secret_hash: string | null;
  grant_types: string[];
  callback_url: string | null;
}

export class ClientStore {
  readonly #db: Queryable;
  readonly #secrets: SecretBox;

  constructor(db: Queryable, secrets: SecretBox) {
    this.#db = db;
    this.#secrets = secrets;
  }

  /** Registers a management client once per name; later calls return the same credentials. */
  async registerManagement(input: {
    clientName: string;
    owner: string;
    grantTypes: string[];
    callbackUrl: string | null;
  }): Promise<ResidentClient> {
    await this.#db.query(
      `INSERT INTO clients (client_id, client_name, kind, owner, secret_encrypted, grant_types, callback_url)
       VALUES ($1, $2, 'management', $3, $4, $5::jsonb, $6)
       ON CONFLICT (client_name) WHERE kind = 'management' DO NOTHING`,
      [
        newClientId(),
        input.clientName,
        input.owner,
        this.#secrets.seal(newSecret()),
        JSON.stringify(input.grantTypes),
        input.callbackUrl,
      ],
    );
    const row = await this.#db.query<ClientRow>(
      "SELECT * FROM clients WHERE client_name = $1 AND kind = 'management'",
      [input.clientName],
    );
    return this.#toClient(row.rows[0]!);
  }

  /** A new application client; its secret is in the answer and nowhere else. */
  async createApplicationClient(input: {
    clientName: string;
    owner: string;
    grantTypes: string[];
    callbackUrl: string | null;
  }): Promise<ResidentClient & { clientSecret: string }> {
    const clientId = newClientId();
    const clientSecret = newSecret();
    await this.#db.query(
      `INSERT INTO clients (client_id, client_name, kind, owner, secret_hash, grant_types, callback_url)
       VALUES ($1, $2, 'application', $3, $4, $5::jsonb, $6)`,
      [
        clientId,
        input.clientName,
        input.owner,
        hashSecret(clientSecret),
        JSON.stringify(input.grantTypes),
        input.callbackUrl,
      ],
    );
    return { ...(await this.find(clientId))!, clientSecret };
  }

  async find(clientId: string): Promise<ResidentClient | undefined> {
    const row = await this.#db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [clientId]);
    return row.rows[0] ? this.#toClient(row.rows[0]) : undefined;
  }

  /** The client when `secret` is its secret, else undefined. */
  async authenticate(clientId: string, secret: string): Promise<ResidentClient | undefined> {
    const row = (await this.#db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [clientId]))
      .rows[0];
    if (!row) return undefined;
    const matches = row.secret_hash
      ? secretMatchesHash(secret, row.secret_hash)
      : row.secret_encrypted !== null && safeEqual(this.#secrets.open(row.secret_encrypted), secret);
    return matches ? this.#toClient(row) : undefined;
  }

  async remove(clientId: string): Promise<void> {
    await this.#db.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
  }

  #toClient(row: ClientRow): ResidentClient {
    return {
      clientId: row.client_id,
      clientName: row.client_name,
      kind: row.kind,
      owner: row.owner,
      clientSecret: row.secret_encrypted === null ? null : this.#secrets.open(row.secret_encrypted),
      grantTypes: row.grant_types,
      callbackUrl: row.callback_url,
    };
  }
}

function newClientId(): string {
  return randomBytes(20).toString('base64url');
}

function newSecret(): string {
  return randomBytes(24).toString('base64url');
}
