import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../../lib/storage/index.ts';
import type { SecretBox } from '../secrets.ts';
import { safeEqual } from './credentials.ts';

/** OAuth clients of the resident key manager. */
export interface ResidentClient {
  clientId: string;
  clientName: string;
  kind: 'management' | 'application';
  owner: string;
  clientSecret: string;
  grantTypes: string[];
  callbackUrl: string | null;
}

interface ClientRow {
  client_id: string;
  client_name: string;
  kind: 'management' | 'application';
  owner: string;
  secret_encrypted: string;
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

  async createApplicationClient(input: {
    clientName: string;
    owner: string;
    grantTypes: string[];
    callbackUrl: string | null;
  }): Promise<ResidentClient> {
    const clientId = newClientId();
    await this.#db.query(
      `INSERT INTO clients (client_id, client_name, kind, owner, secret_encrypted, grant_types, callback_url)
       VALUES ($1, $2, 'application', $3, $4, $5::jsonb, $6)`,
      [
        clientId,
        input.clientName,
        input.owner,
        this.#secrets.seal(newSecret()),
        JSON.stringify(input.grantTypes),
        input.callbackUrl,
      ],
    );
    return (await this.find(clientId))!;
  }

  async find(clientId: string): Promise<ResidentClient | undefined> {
    const row = await this.#db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [clientId]);
    return row.rows[0] ? this.#toClient(row.rows[0]) : undefined;
  }

  /** The client when `secret` is its secret, else undefined. */
  async authenticate(clientId: string, secret: string): Promise<ResidentClient | undefined> {
    const client = await this.find(clientId);
    if (!client || !safeEqual(client.clientSecret, secret)) return undefined;
    return client;
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
      clientSecret: this.#secrets.open(row.secret_encrypted),
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
