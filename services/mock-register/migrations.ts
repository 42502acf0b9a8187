import { WINDOW_COUNTERS_MIGRATION } from '../../lib/limits/window-counters.ts';
import type { Migration } from '../../lib/storage/index.ts';

/**
 * mock-register's schema. Append new versions; never edit an applied one. One statement per migration:
 * PGlite runs migration SQL as a prepared statement, which holds a single command.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'register signing keys',
    // Sandbox only, so the private JWK lives in the database: every replica signs with the same key and
    // a restart keeps the keys Data Holders have cached. `retired_at` is set when a newer key takes
    // over; the key stays published for a retention period after it.
    sql: `CREATE TABLE signing_keys (
            kid          text PRIMARY KEY,
            private_jwk  jsonb NOT NULL,
            public_jwk   jsonb NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            retired_at   timestamptz
          )`,
  },
  {
    version: 2,
    name: 'one active signing key',
    // Exactly one key signs at a time, even with replicas rotating concurrently.
    sql: 'CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL',
  },
  {
    version: 3,
    name: 'software products',
    // `metadata`: the SSA claims (org, client, URIs, scope) copied into every SSA issued for the product.
    sql: `CREATE TABLE software_products (
            software_product_id    text PRIMARY KEY,
            brand_id               text NOT NULL,
            industry               text NOT NULL,
            status                 text NOT NULL,
            brand_status           text NOT NULL,
            data_recipient_status  text NOT NULL,
            metadata               jsonb NOT NULL,
            created_at             timestamptz NOT NULL DEFAULT now(),
            updated_at             timestamptz NOT NULL DEFAULT now()
          )`,
  },
  {
    version: 4,
    name: 'hosted recipient JWKS',
    // Public JWKS of test recipients, served so a smoke test can register without hosting its keys.
    sql: `CREATE TABLE recipient_jwks (
            software_product_id  text PRIMARY KEY,
            jwks                 jsonb NOT NULL,
            updated_at           timestamptz NOT NULL DEFAULT now()
          )`,
  },
  { version: 5, ...WINDOW_COUNTERS_MIGRATION },
];
