import { z } from 'zod';
import { COMPONENTS } from './components.ts';

/**
 * One configuration model for every obkit component. WSO2's TOML keys are accepted where obkit implements
 * them (`open_banking.dcr`, `open_banking_cds.dcr`), with WSO2's defaults; obkit's own keys live under
 * `[obkit]`. Sections of a full WSO2 deployment.toml that obkit does not implement are ignored.
 */

const port = z.number().int().min(0).max(65535);
const httpsUrl = z.url({ protocol: /^https$/ });

const service = (defaultPort: number) =>
  z.strictObject({
    port: port.default(defaultPort),
    /** Public base URL; derived from `obkit.hostname` and `port` when empty. */
    url: z.union([httpsUrl, z.literal('')]).default(''),
    /** Internal listener for `/health/*` and `/metrics`; default `port` + 100 (0 when `port` is 0). */
    management_port: port.optional(),
  });

/** A request limit: `requests` per window of `window_seconds`; 0 requests turns the limit off. */
const quota = z.strictObject({
  requests: z.number().int().min(0),
  window_seconds: z.number().int().positive().default(60),
});

const registrationRule = z.strictObject({
  required: z.boolean().optional(),
  allowed_values: z.array(z.string()).optional(),
  unmodifiable_metadata: z.array(z.string()).optional(),
});

export const configSchema = z.looseObject({
  obkit: z
    .strictObject({
      mode: z.enum(['sandbox', 'production']).default('sandbox'),
      hostname: z.string().min(1).default('localhost'),
      bind_address: z.string().min(1).default('127.0.0.1'),
      state_dir: z.string().min(1).default('.obkit'),
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /**
       * Seconds a service takes at most to stop on SIGTERM: requests in flight finish within it. The
       * chart's terminationGracePeriodSeconds covers its preStop pause plus this.
       */
      shutdown_grace_seconds: z.number().int().min(1).max(600).default(20),
      /** Outbound fetches (JWKS, sector identifier, URI checks) to loopback/private addresses. Sandbox only. */
      allow_private_addresses: z.boolean().optional(),
      database: z
        .strictObject({
          url: z.string().default(''),
          /** How long a starting service waits for a database server not yet accepting connections. */
          connect_timeout_seconds: z.number().int().positive().default(30),
        })
        .prefault({}),
      admin: z
        .strictObject({ username: z.string().min(1).default('admin'), password: z.string().default('') })
        .default({ username: 'admin', password: '' }),
      /**
       * Abuse limits (429 + Retry-After), counted in each service's database so they hold across
       * replicas. Unset keys take the mode's defaults (lib/config/index.ts, docs/configuration.md).
       */
      limits: z
        .strictObject({
          token_per_client: quota.optional(),
          token_per_source: quota.optional(),
          dcr_per_client: quota.optional(),
          dcr_per_source: quota.optional(),
          admin_lockout: z
            .strictObject({
              /** Bad admin passwords within `window_seconds` that lock the account; 0 turns it off. */
              max_failures: z.number().int().min(0),
              window_seconds: z.number().int().positive().default(900),
              lockout_seconds: z.number().int().positive().default(900),
            })
            .optional(),
          /** How often each gateway replica shares its business-plan counts with the others, ms. */
          plan_sync_interval_ms: z.number().int().min(50).max(60_000).default(1000),
        })
        .prefault({}),
      /**
       * The key that encrypts signing keys and client secrets in the databases (base64 of 32 bytes), kept
       * outside them: `encryption_key` (from OBKIT_ENCRYPTION_KEY) or `encryption_key_file` (default
       * `<state_dir>/encryption.key`, generated in sandbox). Production requires one of them given.
       */
      secrets: z
        .strictObject({
          encryption_key: z.string().default(''),
          encryption_key_file: z.string().default(''),
          /** Keys being rotated out: still decrypt; what they sealed is re-encrypted at start. */
          previous_encryption_keys: z.array(z.string()).default([]),
        })
        .prefault({}),
      /**
       * The gateway's own credential for the identity server's DCR backend (never the admin's): the
       * identity server checks it; the gateway sends it from its secret store (`vault_dir`, alias
       * `obkit.dcr.backend.authorization`).
       */
      dcr_backend: z
        .strictObject({
          username: z.string().min(1).default('obkit-gateway'),
          password: z.string().default(''),
        })
        .default({ username: 'obkit-gateway', password: '' }),
      /** The gateway's secret store for `wso2:vault-lookup('<alias>')`: one file per alias. */
      vault_dir: z.string().default(''),
      tls: z
        .strictObject({
          certificate: z.string().default(''),
          private_key: z.string().default(''),
          truststore: z.string().default(''),
          internal_ca: z.string().default(''),
          internal_client_certificate: z.string().default(''),
          internal_client_key: z.string().default(''),
          /** The banking service's own internal client certificate (CN=obkit-banking, internal CA). */
          banking_client_certificate: z.string().default(''),
          banking_client_key: z.string().default(''),
          /** Extra CAs trusted for outbound HTTPS (JWKS, Register); sandbox defaults to its own CA. */
          outbound_ca: z.string().default(''),
        })
        .prefault({}),
      identity_server: service(COMPONENTS.identityServer.port).prefault({}),
      api_manager: service(COMPONENTS.apiManager.port).prefault({}),
      gateway: service(COMPONENTS.gateway.port).prefault({}),
      mock_register: service(COMPONENTS.mockRegister.port).prefault({}),
      /**
       * The CDR Register's data-recipient and software-product status lists, polled by the identity
       * server to refuse PAR, tokens and registration management to what is no longer ACTIVE. Empty
       * `url`: off (sandbox: obkit's mock-register).
       */
      register_status: z
        .strictObject({
          url: z.union([httpsUrl, z.literal('')]).default(''),
          interval_seconds: z.number().int().min(1).max(86_400).default(300),
          industry: z.enum(['banking', 'energy', 'telco', 'all']).default('banking'),
        })
        .prefault({}),
      /** The sandbox CDS Banking data API (services/banking), reached through the gateway only. */
      banking: service(COMPONENTS.banking.port).prefault({}),
    })
    .prefault({}),
  open_banking: z
    .looseObject({
      dcr: z
        .looseObject({
          jwks_url_sandbox: z.union([httpsUrl, z.literal('')]).default(''),
          jwks_url_production: z.union([httpsUrl, z.literal('')]).default(''),
          jwks_endpoint_name: z.string().default('jwks_uri'),
          jwks_retriever: z
            .strictObject({
              connection_timeout: z.number().int().positive().default(3000),
              read_timeout: z.number().int().positive().default(3000),
              /** obkit: largest JWKS/sector-identifier document accepted, in bytes. */
              size_limit: z.number().int().positive().default(51_200),
              /** obkit: least time between two fetches of one recipient JWKS (unknown `kid`, failure), ms. */
              refetch_cooldown: z.number().int().min(0).default(10_000),
            })
            .prefault({}),
          regulatory_issuers: z
            .strictObject({ iss: z.array(z.strictObject({ name: z.string().min(1) })) })
            .default({ iss: [{ name: 'cdr-register' }] }),
          registration: z.record(z.string(), registrationRule).default({}),
        })
        .prefault({}),
    })
    .prefault({}),
  open_banking_cds: z
    .looseObject({
      dcr: z
        .looseObject({
          enable_uri_validation: z.boolean().default(false),
          enable_hostname_validation: z.boolean().default(false),
          enable_redirect_uri_hostname_validation: z.boolean().default(true),
          enable_sector_identifier_uri_validation: z.boolean().default(false),
          request_jti_validation_enabled: z.boolean().default(true),
          ssa_jti_validation_enabled: z.boolean().default(false),
          /** obkit: tolerated clock skew for `iat`/`exp`, seconds. */
          clock_skew_seconds: z.number().int().min(0).default(60),
          /** obkit: accept `code id_token` (hybrid flow). */
          enable_hybrid_flow: z.boolean().default(false),
          /** WSO2's SSA environment discriminator: claim name and the value meaning sandbox. */
          software_environment_claim: z.string().default('software_environment'),
          software_environment_sandbox_value: z.string().default('sandbox'),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type RawConfig = z.infer<typeof configSchema>;
