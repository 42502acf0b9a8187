import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { REVOCATION_FEED_PROPERTY } from '../../../lib/gateway-feed/revocations.ts';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import { isUniqueViolation, type Queryable } from '../../../lib/storage/index.ts';
import { badRequest, conflict, notFound, parseBody } from '../request.ts';

/**
 * Key managers as WSO2's admin v4 KeyManagerDTO. Connector secrets in `additionalProperties`
 * (Password, client secrets) are stored encrypted and rendered masked; a PUT that sends the mask back
 * keeps the stored value.
 */

export const RESIDENT_KEY_MANAGER = 'Resident Key Manager';
export const SECRET_MASK = '********';
const SUPPORTED_TYPES = ['default', 'WSO2-IS', 'ObKeyManager'] as const;
const isSecretProperty = (key: string) => /password|secret/i.test(key);

const endpoint = z
  .union([z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }), z.literal('')])
  .nullish();

export const keyManagerInputSchema = z.looseObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[^<>"'&/\\]+$/, 'contains a character that is not allowed'),
  displayName: z.string().nullish(),
  type: z.enum(SUPPORTED_TYPES, { error: `must be one of ${SUPPORTED_TYPES.join(', ')}` }),
  description: z.string().nullish(),
  wellKnownEndpoint: endpoint,
  issuer: z.string().nullish(),
  clientRegistrationEndpoint: endpoint,
  introspectionEndpoint: endpoint,
  tokenEndpoint: endpoint,
  displayTokenEndpoint: endpoint,
  revokeEndpoint: endpoint,
  displayRevokeEndpoint: endpoint,
  userInfoEndpoint: endpoint,
  authorizeEndpoint: endpoint,
  scopeManagementEndpoint: endpoint,
  certificates: z.looseObject({ type: z.enum(['JWKS', 'PEM']), value: z.string() }).nullish(),
  availableGrantTypes: z.array(z.string()).nullish(),
  enableTokenGeneration: z.boolean().nullish(),
  enableTokenEncryption: z.literal(false, { error: 'token encryption is not supported' }).nullish(),
  enableTokenHashing: z.literal(false, { error: 'token hashing is not supported' }).nullish(),
  enableMapOAuthConsumerApps: z.boolean().nullish(),
  enableOAuthAppCreation: z.boolean().nullish(),
  enableSelfValidationJWT: z.boolean().nullish(),
  claimMapping: z.array(z.looseObject({ remoteClaim: z.string(), localClaim: z.string() })).nullish(),
  consumerKeyClaim: z.string().min(1).nullish(),
  scopesClaim: z.string().min(1).nullish(),
  tokenValidation: z
    .array(
      z.looseObject({
        id: z.number().int().nullish(),
        enable: z.boolean().default(true),
        type: z.enum(['REFERENCE', 'JWT', 'CUSTOM']),
        value: z.unknown().optional(),
      }),
    )
    .nullish(),
  enabled: z.boolean().nullish(),
  additionalProperties: z
    .looseObject({
      [REVOCATION_FEED_PROPERTY]: z.url({ protocol: /^https$/, error: 'must be an https URL' }).optional(),
    })
    .nullish(),
});
type KeyManagerInput = z.infer<typeof keyManagerInputSchema>;

export interface KeyManager {
  id: string;
  name: string;
  displayName: string;
  type: string;
  description: string;
  wellKnownEndpoint: string | null;
  issuer: string | null;
  clientRegistrationEndpoint: string | null;
  introspectionEndpoint: string | null;
  tokenEndpoint: string | null;
  displayTokenEndpoint: string | null;
  revokeEndpoint: string | null;
  displayRevokeEndpoint: string | null;
  userInfoEndpoint: string | null;
  authorizeEndpoint: string | null;
  scopeManagementEndpoint: string | null;
  certificates: { type: 'JWKS' | 'PEM'; value: string } | null;
  availableGrantTypes: string[];
  enableTokenGeneration: boolean;
  enableTokenEncryption: boolean;
  enableTokenHashing: boolean;
  enableMapOAuthConsumerApps: boolean;
  enableOAuthAppCreation: boolean;
  enableSelfValidationJWT: boolean;
  claimMapping: { remoteClaim: string; localClaim: string }[];
  consumerKeyClaim: string;
  scopesClaim: string;
  tokenValidation: { id: number; enable: boolean; type: 'REFERENCE' | 'JWT' | 'CUSTOM'; value?: unknown }[];
  enabled: boolean;
  /** Non-secret connector configuration. */
  additionalProperties: Record<string, unknown>;
}

interface KeyManagerRow {
  id: string;
  name: string;
  dto: Omit<KeyManager, 'id' | 'name'>;
  secrets_encrypted: string | null;
}

export class KeyManagerStore {
  readonly #db: Queryable;
  readonly #secrets: SecretBox;
  readonly #residentDefaults: () => Partial<KeyManager>;

  /** `residentDefaults` fills the resident key manager's endpoints from api-manager's own URL. */
  constructor(db: Queryable, secrets: SecretBox, residentDefaults: () => Partial<KeyManager>) {
    this.#db = db;
    this.#secrets = secrets;
    this.#residentDefaults = residentDefaults;
  }

  /** The Resident Key Manager exists from the start (and may later be disabled, never deleted). */
  async ensureResident(): Promise<void> {
    const model = toModel(
      parseBody(keyManagerInputSchema, { name: RESIDENT_KEY_MANAGER, type: 'default' }),
      undefined,
    );
    model.description = 'This is Resident Key Manager';
    await this.#db.query(
      `INSERT INTO key_managers (id, name, dto) VALUES ($1, $2, $3::jsonb) ON CONFLICT (name) DO NOTHING`,
      [randomUUID(), RESIDENT_KEY_MANAGER, JSON.stringify(omitIdentity(model))],
    );
  }

  async list(): Promise<KeyManager[]> {
    const rows = await this.#db.query<KeyManagerRow>('SELECT * FROM key_managers ORDER BY created_at, name');
    return rows.rows.map((row) => this.#toKeyManager(row));
  }

  async get(id: string): Promise<KeyManager> {
    const row = await this.#db.query<KeyManagerRow>('SELECT * FROM key_managers WHERE id = $1', [id]);
    if (!row.rows[0]) throw notFound('key manager', id);
    return this.#toKeyManager(row.rows[0]);
  }

  async findByName(name: string): Promise<KeyManager | undefined> {
    const row = await this.#db.query<KeyManagerRow>('SELECT * FROM key_managers WHERE name = $1', [name]);
    return row.rows[0] ? this.#toKeyManager(row.rows[0]) : undefined;
  }

  /** Connector secrets (e.g. `Password`) of a key manager, decrypted, for calling its endpoints. */
  async secretsOf(id: string): Promise<Record<string, string>> {
    const row = await this.#db.query<{ secrets_encrypted: string | null }>(
      'SELECT secrets_encrypted FROM key_managers WHERE id = $1',
      [id],
    );
    const sealed = row.rows[0]?.secrets_encrypted;
    return sealed ? (JSON.parse(this.#secrets.open(sealed)) as Record<string, string>) : {};
  }

  async create(body: unknown): Promise<KeyManager> {
    const input = parseBody(keyManagerInputSchema, body);
    if (input.type === 'default')
      throw badRequest('invalid field type: only the Resident Key Manager is of type default');
    const model = toModel(input, undefined);
    const { plain, secret } = splitSecrets(input.additionalProperties ?? {}, {});
    model.additionalProperties = plain;
    const id = randomUUID();
    try {
      await this.#db.query(
        'INSERT INTO key_managers (id, name, dto, secrets_encrypted) VALUES ($1, $2, $3::jsonb, $4)',
        [id, model.name, JSON.stringify(omitIdentity(model)), this.#seal(secret)],
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict(`a key manager named ${model.name} already exists`);
      throw error;
    }
    return this.get(id);
  }

  async update(id: string, body: unknown): Promise<KeyManager> {
    const current = await this.get(id);
    const input = parseBody(keyManagerInputSchema, body);
    if (input.name !== current.name) throw badRequest('invalid field name: cannot be changed');
    if ((input.type === 'default') !== (current.type === 'default')) {
      throw badRequest(`invalid field type: cannot change from ${current.type} to ${input.type}`);
    }
    const model = toModel(input, id);
    const { plain, secret } = splitSecrets(input.additionalProperties ?? {}, await this.secretsOf(id));
    model.additionalProperties = plain;
    await this.#db.query('UPDATE key_managers SET dto = $2::jsonb, secrets_encrypted = $3 WHERE id = $1', [
      id,
      JSON.stringify(omitIdentity(model)),
      this.#seal(secret),
    ]);
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const current = await this.get(id);
    if (current.type === 'default')
      throw badRequest('the Resident Key Manager cannot be deleted; disable it instead');
    await this.#db.query('DELETE FROM key_managers WHERE id = $1', [id]);
  }

  #seal(secret: Record<string, string>): string | null {
    return Object.keys(secret).length ? this.#secrets.seal(JSON.stringify(secret)) : null;
  }

  #toKeyManager(row: KeyManagerRow): KeyManager {
    const keyManager: KeyManager = { id: row.id, name: row.name, ...row.dto };
    if (keyManager.type !== 'default') return keyManager;
    const defaults = this.#residentDefaults();
    for (const [key, value] of Object.entries(defaults) as [keyof KeyManager, never][]) {
      if (keyManager[key] === null || keyManager[key] === '') keyManager[key] = value;
    }
    return keyManager;
  }
}

function omitIdentity(model: KeyManager): Omit<KeyManager, 'id' | 'name'> {
  const { id: _id, name: _name, ...rest } = model;
  return rest;
}

/** Secrets go to the sealed map (a masked value keeps the stored secret); the rest stays plain. */
function splitSecrets(
  properties: Record<string, unknown>,
  stored: Record<string, string>,
): { plain: Record<string, unknown>; secret: Record<string, string> } {
  const plain: Record<string, unknown> = {};
  const secret: Record<string, string> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (!isSecretProperty(key)) {
      plain[key] = value;
      continue;
    }
    const text = String(value ?? '');
    if (text === SECRET_MASK) {
      if (stored[key] !== undefined) secret[key] = stored[key];
    } else if (text !== '') {
      secret[key] = text;
    }
  }
  return { plain, secret };
}

function toModel(input: KeyManagerInput, id: string | undefined): KeyManager {
  const url = (value: string | null | undefined) => (value ? value : null);
  return {
    id: id ?? '',
    name: input.name,
    displayName: input.displayName || input.name,
    type: input.type,
    description: input.description ?? '',
    wellKnownEndpoint: url(input.wellKnownEndpoint),
    issuer: url(input.issuer),
    clientRegistrationEndpoint: url(input.clientRegistrationEndpoint),
    introspectionEndpoint: url(input.introspectionEndpoint),
    tokenEndpoint: url(input.tokenEndpoint),
    displayTokenEndpoint: url(input.displayTokenEndpoint),
    revokeEndpoint: url(input.revokeEndpoint),
    displayRevokeEndpoint: url(input.displayRevokeEndpoint),
    userInfoEndpoint: url(input.userInfoEndpoint),
    authorizeEndpoint: url(input.authorizeEndpoint),
    scopeManagementEndpoint: url(input.scopeManagementEndpoint),
    certificates: input.certificates?.value
      ? { type: input.certificates.type, value: input.certificates.value }
      : null,
    availableGrantTypes: input.availableGrantTypes ?? [],
    enableTokenGeneration: input.enableTokenGeneration ?? true,
    enableTokenEncryption: false,
    enableTokenHashing: false,
    enableMapOAuthConsumerApps: input.enableMapOAuthConsumerApps ?? false,
    enableOAuthAppCreation: input.enableOAuthAppCreation ?? true,
    enableSelfValidationJWT: input.enableSelfValidationJWT ?? true,
    claimMapping: input.claimMapping ?? [],
    consumerKeyClaim: input.consumerKeyClaim ?? 'azp',
    scopesClaim: input.scopesClaim ?? 'scope',
    tokenValidation: (input.tokenValidation ?? []).map((validation, index) => ({
      id: validation.id ?? index + 1,
      enable: validation.enable,
      type: validation.type,
      ...(validation.value !== undefined ? { value: validation.value } : {}),
    })),
    enabled: input.enabled ?? true,
    additionalProperties: input.additionalProperties ?? {},
  };
}

/** The admin v4 KeyManagerDTO, secrets masked. */
export function keyManagerDto(keyManager: KeyManager, secretKeys: string[]) {
  const additionalProperties: Record<string, unknown> = { ...keyManager.additionalProperties };
  for (const key of secretKeys) additionalProperties[key] = SECRET_MASK;
  return {
    ...keyManager,
    endpoints: [],
    global: false,
    alias: null,
    tokenType: 'DIRECT',
    additionalProperties,
  };
}

/** The admin v4 KeyManagerInfoDTO (list entries). */
export function keyManagerInfoDto(keyManager: KeyManager) {
  return {
    id: keyManager.id,
    name: keyManager.name,
    displayName: keyManager.displayName,
    type: keyManager.type,
    description: keyManager.description,
    enabled: keyManager.enabled,
    isGlobal: false,
    isUsed: false,
    tokenType: 'DIRECT',
  };
}
