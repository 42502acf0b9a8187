import { WINDOW_COUNTERS_MIGRATION } from '../../lib/limits/window-counters.ts';
import type { Migration } from '../../lib/storage/index.ts';

/** identity-server's schema. Append new versions; never edit an applied one. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'clients, replay cache, oauth payloads, signing keys, scopes',
    sql: `
      -- OAuth clients: CDR DCR registrations and key-manager applications alike.
      CREATE TABLE clients (
        client_id            text PRIMARY KEY,
        source               text NOT NULL CHECK (source IN ('cdr-dcr', 'keymanager')),
        -- One active registration per software product, enforced here rather than by read-then-write.
        software_id          text UNIQUE,
        -- oidc-provider client metadata (standard names), as the provider loads it.
        metadata             jsonb NOT NULL,
        -- What a DCR GET renders besides metadata (SSA claims promoted to the top level, etc.).
        registration         jsonb NOT NULL DEFAULT '{}'::jsonb,
        -- The software statement exactly as received, returned byte for byte.
        software_statement   text,
        client_secret        text,
        client_id_issued_at  integer NOT NULL,
        created_at           timestamptz NOT NULL DEFAULT now(),
        updated_at           timestamptz NOT NULL DEFAULT now()
      );

      -- Replay cache shared by every replica: a jti is accepted once within its lifetime.
      CREATE TABLE seen_jtis (
        purpose     text NOT NULL,
        jti         text NOT NULL,
        expires_at  timestamptz NOT NULL,
        PRIMARY KEY (purpose, jti)
      );
      CREATE INDEX seen_jtis_expiry ON seen_jtis (expires_at);

      -- oidc-provider adapter storage (grants, refresh tokens, sessions, ...).
      CREATE TABLE oidc_payloads (
        model        text NOT NULL,
        id           text NOT NULL,
        payload      jsonb NOT NULL,
        grant_id     text,
        uid          text,
        user_code    text,
        expires_at   timestamptz,
        consumed_at  timestamptz,
        PRIMARY KEY (model, id)
      );
      CREATE INDEX oidc_payloads_grant ON oidc_payloads (grant_id);
      CREATE INDEX oidc_payloads_uid ON oidc_payloads (uid);

      -- Token signing keys (private JWKs), newest active first; retired keys stay published until expiry.
      CREATE TABLE signing_keys (
        kid         text PRIMARY KEY,
        private_jwk jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        retired_at  timestamptz
      );

      -- Revoked JWT access tokens (by jti) until they would have expired anyway.
      CREATE TABLE revoked_tokens (
        jti         text PRIMARY KEY,
        expires_at  timestamptz NOT NULL
      );

      CREATE TABLE scopes (
        name         text PRIMARY KEY,
        display_name text NOT NULL,
        description  text NOT NULL DEFAULT '',
        bindings     jsonb NOT NULL DEFAULT '[]'::jsonb
      );
    `,
  },
  {
    version: 2,
    name: 'seed CDR scopes; unique key-manager application names',
    sql: `
      INSERT INTO scopes (name, display_name, description) VALUES
        ('openid', 'OpenID', 'OpenID Connect sign-in'),
        ('profile', 'Profile', 'Name and basic profile of the customer'),
        ('cdr:registration', 'CDR registration', 'Manage the client''s own CDR dynamic client registration'),
        ('bank:accounts.basic:read', 'Basic bank account details', 'Names, types and balances of bank accounts'),
        ('bank:accounts.detail:read', 'Detailed bank account details', 'Account numbers, features and rates'),
        ('bank:transactions:read', 'Bank transaction details', 'Transactions of bank accounts'),
        ('bank:regular_payments:read', 'Direct debits and scheduled payments', 'Regular payments of bank accounts'),
        ('bank:payees:read', 'Saved payees', 'Payees saved by the customer'),
        ('common:customer.basic:read', 'Name and occupation', 'Name and occupation of the customer'),
        ('common:customer.detail:read', 'Contact details', 'Contact details of the customer')
      ON CONFLICT (name) DO NOTHING;

      -- Key-manager applications are looked up by name (WSO2 rejects a second app of the same name).
      CREATE UNIQUE INDEX clients_keymanager_name ON clients ((metadata->>'client_name'))
        WHERE source = 'keymanager';
    `,
  },
  {
    version: 3,
    name: 'revocations feed for the gateways (by token, by client)',
    sql: `
      -- Every revocation the gateways must honour, in the order recorded: a token claim and a value, in
      -- force until every token carrying it has expired. Writers serialise on the table (revocations.ts),
      -- so ids become visible in order and a reader's cursor never skips a row.
      CREATE TABLE revocations (
        id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        claim       text NOT NULL,
        value       text NOT NULL,
        expires_at  timestamptz NOT NULL,
        UNIQUE (claim, value)
      );
      CREATE INDEX revocations_expiry ON revocations (expires_at);
      INSERT INTO revocations (claim, value, expires_at)
        SELECT 'jti', jti, expires_at FROM revoked_tokens ORDER BY jti;
      DROP TABLE revoked_tokens;
    `,
  },
  { version: 4, ...WINDOW_COUNTERS_MIGRATION },
  {
    version: 5,
    name: 'signing keys and client secrets encrypted at rest',
    sql: `
      -- Sealed (lib/secrets) with a key kept outside the database. The plaintext columns only hold rows
      -- written before this version: the server seals and empties them at start (secrets-at-rest.ts).
      ALTER TABLE signing_keys ADD COLUMN alg text, ADD COLUMN sealed_private_jwk text,
        ALTER COLUMN private_jwk DROP NOT NULL;
      UPDATE signing_keys SET alg = private_jwk->>'alg';
      ALTER TABLE signing_keys ALTER COLUMN alg SET NOT NULL;
      ALTER TABLE clients ADD COLUMN client_secret_sealed text;
    `,
  },
  {
    version: 6,
    name: 'CDR arrangements',
    sql: `
      -- A customer's consent to share data with a recipient (CDR arrangement). Amending an arrangement
      -- keeps its id and replaces its grant; revoking it ends every token issued under it.
      CREATE TABLE cdr_arrangements (
        arrangement_id    text PRIMARY KEY,
        client_id         text NOT NULL,
        customer_id       text NOT NULL,
        -- oidc-provider's Grant (oidc_payloads) the arrangement's tokens are issued from.
        grant_id          text NOT NULL UNIQUE,
        account_ids       jsonb NOT NULL,
        scope             text NOT NULL,
        sharing_duration  integer NOT NULL,
        status            text NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        -- End of the sharing period; null for a one-off consent (no refresh token).
        expires_at        timestamptz
      );
      CREATE INDEX cdr_arrangements_client ON cdr_arrangements (client_id);
    `,
  },
  {
    version: 7,
    name: 'server secrets shared by replicas (cookie key, pairwise subject salt)',
    sql: `
      -- Random values every replica must share and a restart must keep, sealed (lib/secrets).
      CREATE TABLE server_secrets (
        name    text PRIMARY KEY,
        sealed  text NOT NULL
      );
    `,
  },
];
