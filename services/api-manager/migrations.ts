import { WINDOW_COUNTERS_MIGRATION } from '../../lib/limits/window-counters.ts';
import type { Migration } from '../../lib/storage/index.ts';

/** api-manager's schema. Append new versions; never edit an applied one. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'management auth, APIs, revisions, policies, key managers, applications, subscriptions',
    sql: `
      -- One random key per deployment: encrypts secrets that must be given back (client secrets on
      -- idempotent registration, key-manager connector passwords).
      CREATE TABLE master_key (
        id   integer PRIMARY KEY CHECK (id = 1),
        key  text NOT NULL
      );

      -- Token signing keys of the resident key manager (private JWKs); the newest signs.
      CREATE TABLE signing_keys (
        kid         text PRIMARY KEY,
        private_jwk jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      );

      -- OAuth clients of the resident key manager: management clients (client-registration v0.17)
      -- and devportal applications' resident keys.
      CREATE TABLE clients (
        client_id        text PRIMARY KEY,
        client_name      text NOT NULL,
        kind             text NOT NULL CHECK (kind IN ('management', 'application')),
        owner            text NOT NULL,
        secret_encrypted text NOT NULL,
        grant_types      jsonb NOT NULL,
        callback_url     text,
        created_at       timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX clients_management_name ON clients (client_name) WHERE kind = 'management';

      -- Issued access tokens, by SHA-256 of the token: a leaked table grants nothing.
      CREATE TABLE access_tokens (
        token_hash  text PRIMARY KEY,
        client_id   text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
        username    text,
        scopes      text NOT NULL,
        expires_at  timestamptz NOT NULL
      );
      CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

      CREATE TABLE apis (
        id                text PRIMARY KEY,
        name              text NOT NULL,
        version           text NOT NULL,
        context_template  text NOT NULL,
        lifecycle         text NOT NULL,
        dto               jsonb NOT NULL,
        definition        text NOT NULL,
        revision_counter  integer NOT NULL DEFAULT 0,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, version),
        UNIQUE (context_template, version)
      );

      CREATE TABLE operation_policies (
        id          text PRIMARY KEY,
        api_id      text NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        name        text NOT NULL,
        version     text NOT NULL,
        spec        jsonb NOT NULL,
        definition  text NOT NULL,
        steps       jsonb NOT NULL,
        UNIQUE (api_id, name, version)
      );

      -- A revision freezes the API and its policies' steps; deployments serve revisions, not drafts.
      CREATE TABLE revisions (
        id           text PRIMARY KEY,
        api_id       text NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        number       integer NOT NULL,
        description  text NOT NULL DEFAULT '',
        api_dto      jsonb NOT NULL,
        policies     jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        UNIQUE (api_id, number)
      );

      -- One revision per API per gateway environment, as WSO2.
      CREATE TABLE deployments (
        api_id               text NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        environment          text NOT NULL,
        revision_id          text NOT NULL REFERENCES revisions (id),
        vhost                text NOT NULL,
        display_on_devportal boolean NOT NULL DEFAULT true,
        deployed_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (api_id, environment)
      );

      CREATE TABLE key_managers (
        id                 text PRIMARY KEY,
        name               text NOT NULL UNIQUE,
        dto                jsonb NOT NULL,
        -- additionalProperties values that are secrets (Password, client secrets), encrypted.
        secrets_encrypted  text,
        created_at         timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE applications (
        id                 text PRIMARY KEY,
        name               text NOT NULL,
        owner              text NOT NULL,
        throttling_policy  text NOT NULL,
        dto                jsonb NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        UNIQUE (owner, name)
      );

      CREATE TABLE application_keys (
        id                      text PRIMARY KEY,
        application_id          text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
        key_manager             text NOT NULL,
        key_type                text NOT NULL CHECK (key_type IN ('PRODUCTION', 'SANDBOX')),
        consumer_key            text NOT NULL,
        secret_encrypted        text,
        grant_types             jsonb NOT NULL,
        callback_url            text,
        UNIQUE (application_id, key_manager, key_type),
        UNIQUE (key_manager, consumer_key)
      );

      CREATE TABLE subscriptions (
        id                 text PRIMARY KEY,
        application_id     text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
        api_id             text NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        throttling_policy  text NOT NULL,
        status             text NOT NULL DEFAULT 'UNBLOCKED',
        UNIQUE (application_id, api_id)
      );
    `,
  },
  { version: 2, ...WINDOW_COUNTERS_MIGRATION },
  {
    version: 3,
    name: 'secrets at rest: key outside the database, hashed application secrets',
    sql: `
      -- Sealed (lib/secrets) under a key kept outside the database. At start the service re-seals what
      -- master_key sealed and drops master_key, and seals plaintext signing keys (secrets-at-rest.ts).
      ALTER TABLE signing_keys ADD COLUMN sealed_private_jwk text, ALTER COLUMN private_jwk DROP NOT NULL;
      -- An application's secret is shown once (generate-keys) and kept only as a hash.
      ALTER TABLE clients ADD COLUMN secret_hash text, ALTER COLUMN secret_encrypted DROP NOT NULL;
      -- Consumer secrets of other key managers' applications were never read back: no copy is kept.
      ALTER TABLE application_keys DROP COLUMN secret_encrypted;
    `,
  },
];
