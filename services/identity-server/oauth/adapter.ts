import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { ClientCache } from './client-cache.ts';

/**
 * oidc-provider's storage over lib/storage. Clients are not oidc-provider's to manage: the CDR DCR
 * endpoint and the key-manager API write the `clients` table, and model `Client` only reads it (CDR
 * clients through a brief cache, client-cache.ts) — a deleted client is refused at once and the token
 * endpoint answers `invalid_client`. Every other model (grants, refresh tokens, ...) lives in
 * `oidc_payloads` with its expiry; expired rows are never returned and are pruned by
 * `pruneExpiredPayloads`. Client-assertion replay detection has its own statement (replay-detection.ts).
 */

/** CDR registration fields the provider keeps on the client (available to policies and token claims). */
export const CDR_CLIENT_METADATA = [
  'software_id',
  'software_roles',
  'org_id',
  'org_name',
  'client_description',
  'recipient_base_uri',
  'revocation_uri',
  'legal_entity_id',
  'legal_entity_name',
] as const;

/** Client metadata this provider configuration recognises; anything else in a stored row is dropped. */
const PROVIDER_CLIENT_METADATA = new Set<string>([
  'application_type',
  'authorization_signed_response_alg',
  'client_id',
  'client_id_issued_at',
  'client_name',
  'client_secret',
  'client_secret_expires_at',
  'client_uri',
  'contacts',
  'default_acr_values',
  'default_max_age',
  'grant_types',
  'id_token_signed_response_alg',
  'initiate_login_uri',
  'jwks',
  'jwks_uri',
  'logo_uri',
  'policy_uri',
  'redirect_uris',
  'request_object_signing_alg',
  'require_auth_time',
  'response_types',
  'scope',
  'sector_identifier_uri',
  'subject_type',
  'subject_type',
  'tls_client_certificate_bound_access_tokens',
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'tos_uri',
  ...CDR_CLIENT_METADATA,
]);

export interface ClientRow {
  client_id: string;
  source: 'cdr-dcr' | 'keymanager';
  metadata: Record<string, unknown>;
  client_secret: string | null;
  client_id_issued_at: number;
}

/**
 * A stored client as the provider loads it. CDR registrations authenticate only with private_key_jwt
 * and get certificate-bound tokens unless their metadata says otherwise; shared secrets exist only for
 * key-manager applications (client_secret_basic).
 */
export function toProviderClient(
  row: ClientRow,
  supportedGrantTypes: ReadonlySet<string>,
  knownScopes: ReadonlySet<string>,
): AdapterPayload {
  const client: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row.metadata)) {
    if (PROVIDER_CLIENT_METADATA.has(key) && value !== null && value !== undefined) client[key] = value;
  }
  // A scope this process does not know yet (created moments ago on another replica) is not granted until
  // it does, rather than making the whole client fail to load.
  if (typeof client.scope === 'string') {
    client.scope = client.scope
      .split(' ')
      .filter((scope) => knownScopes.has(scope))
      .join(' ');
  }
  client.client_id = row.client_id;
  client.client_id_issued_at = row.client_id_issued_at;
  delete client.client_secret;
  if (row.source === 'cdr-dcr') {
    client.token_endpoint_auth_method = 'private_key_jwt';
    client.tls_client_certificate_bound_access_tokens ??= true;
  } else {
    client.token_endpoint_auth_method = 'client_secret_basic';
    if (row.client_secret) client.client_secret = row.client_secret;
  }
  // Grants this server does not offer (yet) are not the client's fault: load it with the ones it can use.
  const grants = Array.isArray(client.grant_types)
    ? (client.grant_types as string[])
    : ['client_credentials'];
  client.grant_types = grants.filter((grant) => supportedGrantTypes.has(grant));
  if (!(client.grant_types as string[]).includes('authorization_code')) {
    client.response_types = [];
    delete client.redirect_uris;
  } else if (row.source === 'cdr-dcr' && oneHost(client.redirect_uris)) {
    // CDR: the customer's `sub` differs per recipient sector. Redirect URIs on several hosts would need a
    // sector_identifier_uri the provider fetches; those clients keep public subjects (docs/consent.md).
    client.subject_type ??= 'pairwise';
  }
  return client as AdapterPayload;
}

function oneHost(uris: unknown): boolean {
  return Array.isArray(uris) && new Set(uris.map((uri) => new URL(String(uri)).host)).size === 1;
}

interface PayloadRow {
  payload: AdapterPayload;
  consumed_at: Date | string | null;
}

class ClientAdapter implements Adapter {
  readonly #db: Database;
  readonly #secrets: SecretBox;
  readonly #grantTypes: ReadonlySet<string>;
  readonly #scopes: ReadonlySet<string>;
  readonly #cache: ClientCache<ClientRow>;
  constructor(
    db: Database,
    secrets: SecretBox,
    grantTypes: ReadonlySet<string>,
    scopes: ReadonlySet<string>,
    cache: ClientCache<ClientRow>,
  ) {
    this.#db = db;
    this.#secrets = secrets;
    this.#grantTypes = grantTypes;
    this.#scopes = scopes;
    this.#cache = cache;
  }
  async find(id: string): Promise<AdapterPayload | undefined> {
    let row = this.#cache.get(id);
    if (!row) {
      const { rows } = await this.#db.query<ClientRow & { client_secret_sealed: string | null }>(
        `SELECT client_id, source, metadata, client_secret_sealed, client_id_issued_at
           FROM clients WHERE client_id = $1`,
        [id],
      );
      const { client_secret_sealed: sealed, ...stored } = rows[0] ?? {};
      row = rows[0] && {
        ...(stored as ClientRow),
        client_secret: sealed ? this.#secrets.open(sealed) : null,
      };
      // CDR clients only: private_key_jwt re-checks registration atomically with the jti (client-cache.ts).
      if (row?.source === 'cdr-dcr') this.#cache.set(id, row);
    }
    return row ? toProviderClient(row, this.#grantTypes, this.#scopes) : undefined;
  }
  async upsert(): Promise<void> {
    throw new Error('clients are written by the DCR and key-manager APIs, not by oidc-provider');
  }
  async destroy(): Promise<void> {
    throw new Error('clients are deleted by the DCR and key-manager APIs, not by oidc-provider');
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}

class PayloadAdapter implements Adapter {
  readonly #db: Database;
  readonly #model: string;
  constructor(db: Database, model: string) {
    this.#db = db;
    this.#model = model;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    await this.#db.query(
      `INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, CASE WHEN $7::integer IS NULL THEN NULL
                                               ELSE now() + make_interval(secs => $7::integer) END)
       ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
         uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`,
      [
        this.#model,
        id,
        JSON.stringify(payload),
        payload.grantId ?? null,
        payload.uid ?? null,
        payload.userCode ?? null,
        expiresIn ?? null,
      ],
    );
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.#findBy('id', id);
  }
  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findBy('uid', uid);
  }
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findBy('user_code', userCode);
  }

  async consume(id: string): Promise<void> {
    await this.#db.query('UPDATE oidc_payloads SET consumed_at = now() WHERE model = $1 AND id = $2', [
      this.#model,
      id,
    ]);
  }
  async destroy(id: string): Promise<void> {
    await this.#db.query('DELETE FROM oidc_payloads WHERE model = $1 AND id = $2', [this.#model, id]);
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.#db.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
  }

  async #findBy(column: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
    const { rows } = await this.#db.query<PayloadRow>(
      `SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = $1 AND ${column} = $2 AND (expires_at IS NULL OR expires_at > now())`,
      [this.#model, value],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (row.consumed_at === null) return row.payload;
    return { ...row.payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) };
  }
}

/**
 * The provider's `adapter` option: one adapter instance per model name. `knownScopes` are the scopes the
 * provider was built with (its client metadata validation rejects any other).
 */
export function createAdapterFactory(
  db: Database,
  secrets: SecretBox,
  supportedGrantTypes: ReadonlySet<string>,
  knownScopes: ReadonlySet<string>,
  clients: ClientCache<ClientRow>,
) {
  return (model: string): Adapter =>
    model === 'Client'
      ? new ClientAdapter(db, secrets, supportedGrantTypes, knownScopes, clients)
      : new PayloadAdapter(db, model);
}

/** Removes expired provider payloads: they cannot matter any more. */
export async function pruneExpiredPayloads(db: Database): Promise<void> {
  await db.query('DELETE FROM oidc_payloads WHERE expires_at IS NOT NULL AND expires_at < now()');
}
