import { z } from 'zod';
import type {
  PutOutcome,
  SoftwareProduct,
  SoftwareProductInput,
  StatusChange,
} from '../../lib/cdr/register-client.ts';
import type { SoftwareProductMetadata } from '../../lib/cdr/software-statement.ts';
import type { Database } from '../../lib/storage/index.ts';

/**
 * Sandbox software products: what the Register knows about each product (its brand, industry, the
 * statuses of product, brand and data recipient) and the metadata it copies into the product's SSAs.
 * Validation mirrors what a Data Holder requires of an SSA, so the Register never signs one that a
 * conforming Data Holder must reject for its content.
 */

/** Path identifiers (software product, brand): URL-safe, as the Register's GUIDs are. */
export const identifier = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._~-]+$/, 'must contain only letters, digits and . _ ~ -');

const httpsUri = z.string().max(2000).refine(isHttpsUri, 'must be an absolute https URI without credentials');
const text = z.string().trim().min(1).max(1000);
const productStatus = z.enum(['ACTIVE', 'INACTIVE', 'REMOVED']);

export const metadataSchema = z.strictObject({
  org_id: text,
  org_name: text,
  client_name: text,
  client_description: text,
  client_uri: httpsUri,
  redirect_uris: z.array(httpsUri).min(1, 'must list at least one redirect URI'),
  logo_uri: httpsUri,
  tos_uri: httpsUri.optional(),
  policy_uri: httpsUri.optional(),
  jwks_uri: httpsUri,
  revocation_uri: httpsUri,
  recipient_base_uri: httpsUri,
  scope: text.refine((scope) => {
    const scopes = scope.split(/\s+/);
    return scopes.includes('openid') && scopes.includes('cdr:registration');
  }, 'must contain openid and cdr:registration'),
  sector_identifier_uri: httpsUri.optional(),
  legal_entity_id: text.optional(),
  legal_entity_name: text.optional(),
}) satisfies z.ZodType<SoftwareProductMetadata>;

export const productInputSchema = z.strictObject({
  brandId: identifier,
  industry: z.enum(['banking', 'energy', 'telco', 'all']).default('banking'),
  status: productStatus.default('ACTIVE'),
  brandStatus: productStatus.default('ACTIVE'),
  dataRecipientStatus: z.enum(['ACTIVE', 'SUSPENDED', 'REVOKED', 'SURRENDERED']).default('ACTIVE'),
  metadata: metadataSchema,
}) satisfies z.ZodType<Required<SoftwareProductInput>, SoftwareProductInput>;

export const statusChangeSchema = z
  .strictObject({
    status: productStatus.optional(),
    brandStatus: productStatus.optional(),
    dataRecipientStatus: z.enum(['ACTIVE', 'SUSPENDED', 'REVOKED', 'SURRENDERED']).optional(),
  })
  .refine(
    (change) => Object.keys(change).length > 0,
    'name at least one status to change',
  ) satisfies z.ZodType<StatusChange, StatusChange>;

interface ProductRow {
  software_product_id: string;
  brand_id: string;
  industry: SoftwareProduct['industry'];
  status: SoftwareProduct['status'];
  brand_status: SoftwareProduct['brandStatus'];
  data_recipient_status: SoftwareProduct['dataRecipientStatus'];
  metadata: SoftwareProductMetadata;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS =
  'software_product_id, brand_id, industry, status, brand_status, data_recipient_status, metadata, created_at, updated_at';

export class SoftwareProducts {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Creates or replaces a product in one statement: concurrent PUTs cannot race, and a PUT that
   * changes nothing is reported as unchanged (and keeps `updatedAt`).
   */
  async put(
    softwareProductId: string,
    input: z.output<typeof productInputSchema>,
  ): Promise<{ product: SoftwareProduct; outcome: PutOutcome }> {
    const written = await this.#db.query<ProductRow & { inserted: boolean }>(
      `INSERT INTO software_products AS p
              (software_product_id, brand_id, industry, status, brand_status, data_recipient_status, metadata)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
       ON CONFLICT (software_product_id) DO UPDATE
          SET brand_id = EXCLUDED.brand_id, industry = EXCLUDED.industry, status = EXCLUDED.status,
              brand_status = EXCLUDED.brand_status, data_recipient_status = EXCLUDED.data_recipient_status,
              metadata = EXCLUDED.metadata, updated_at = now()
        WHERE (p.brand_id, p.industry, p.status, p.brand_status, p.data_recipient_status, p.metadata)
              IS DISTINCT FROM
              (EXCLUDED.brand_id, EXCLUDED.industry, EXCLUDED.status, EXCLUDED.brand_status,
               EXCLUDED.data_recipient_status, EXCLUDED.metadata)
       RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
      [
        softwareProductId,
        input.brandId,
        input.industry,
        input.status,
        input.brandStatus,
        input.dataRecipientStatus,
        JSON.stringify(input.metadata),
      ],
    );
    const row = written.rows[0];
    if (row) return { product: toProduct(row), outcome: row.inserted ? 'created' : 'updated' };
    const unchanged = await this.get(softwareProductId);
    if (!unchanged) throw new Error(`software product ${softwareProductId} vanished during PUT`);
    return { product: unchanged, outcome: 'unchanged' };
  }

  async get(softwareProductId: string): Promise<SoftwareProduct | undefined> {
    const result = await this.#db.query<ProductRow>(
      `SELECT ${COLUMNS} FROM software_products WHERE software_product_id = $1`,
      [softwareProductId],
    );
    return result.rows[0] && toProduct(result.rows[0]);
  }

  async list(): Promise<SoftwareProduct[]> {
    const result = await this.#db.query<ProductRow>(
      `SELECT ${COLUMNS} FROM software_products ORDER BY software_product_id`,
    );
    return result.rows.map(toProduct);
  }

  async setStatus(softwareProductId: string, change: StatusChange): Promise<SoftwareProduct | undefined> {
    const result = await this.#db.query<ProductRow>(
      `UPDATE software_products
          SET status = COALESCE($2, status), brand_status = COALESCE($3, brand_status),
              data_recipient_status = COALESCE($4, data_recipient_status), updated_at = now()
        WHERE software_product_id = $1
       RETURNING ${COLUMNS}`,
      [
        softwareProductId,
        change.status ?? null,
        change.brandStatus ?? null,
        change.dataRecipientStatus ?? null,
      ],
    );
    return result.rows[0] && toProduct(result.rows[0]);
  }
}

function isHttpsUri(value: string): boolean {
  if (!/^https:\/\/[^/?#]/i.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname !== '' && !url.username && !url.password;
  } catch {
    return false;
  }
}

function toProduct(row: ProductRow): SoftwareProduct {
  return {
    softwareProductId: row.software_product_id,
    brandId: row.brand_id,
    industry: row.industry,
    status: row.status,
    brandStatus: row.brand_status,
    dataRecipientStatus: row.data_recipient_status,
    metadata: row.metadata,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
