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
];
