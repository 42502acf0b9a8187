import { z } from 'zod';

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
      /** Outbound fetches (JWKS, sector identifier, URI checks) to loopback/private addresses. Sandbox only. */
      allow_private_addresses: z.boolean().optional(),
      database: z.strictObject({ url: z.string().default('') }).default({ url: '' }),
      admin: z
        .strictObject({ username: z.string().min(1).default('admin'), password: z.string().default('') })
        .default({ username: 'admin', password: '' }),
      tls: z
        .strictObject({
          certificate: z.string().default(''),
          private_key: z.string().default(''),
          truststore: z.string().default(''),
          internal_ca: z.string().default(''),
          internal_client_certificate: z.string().default(''),
          internal_client_key: z.string().default(''),
          /** Extra CAs trusted for outbound HTTPS (JWKS, Register); sandbox defaults to its own CA. */
          outbound_ca: z.string().default(''),
        })
        .prefault({}),
      identity_server: service(9446).prefault({}),
      api_manager: service(9443).prefault({}),
      gateway: service(8243).prefault({}),
      mock_register: service(7000).prefault({}),
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
