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
];
