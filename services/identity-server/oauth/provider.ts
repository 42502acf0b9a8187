import { randomBytes } from 'node:crypto';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../../../lib/config/index.ts';
import type { OutboundClient } from '../../../lib/http/outbound.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { AccessTokenVerifier } from './access-tokens.ts';
import { CDR_CLIENT_METADATA, type ClientRow, createAdapterFactory } from './adapter.ts';
import type { ClientCache } from './client-cache.ts';
import type { ClientCertificateResolver } from './client-certificate.ts';
import { LocalSigningKey } from './local-signing-key.ts';
import { detectReplaysAtomically } from './replay-detection.ts';
import type { SigningKeySet } from './signing-keys.ts';
import { structuredTokenEndpoints } from './structured-tokens.ts';

/** Where the provider is mounted and its routes under it: WSO2 IS's paths. */
export const OAUTH_MOUNT = '/oauth2';
export const OAUTH_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  userinfo: '/userinfo',
} as const;
export const REGISTRATION_PATH = '/api/openbanking/dynamic-client-registration/register';

/** Lifetime of access tokens (seconds); retired signing keys outlive it (signing-keys.ts). */
export const ACCESS_TOKEN_TTL = 3600;

const ALGORITHMS = ['PS256', 'ES256'] as const;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

export interface ProviderOptions {
  config: Config;
  /** Public base URL, e.g. https://localhost:9446. */
  url: string;
  issuer: string;
  /** `aud` of every access token: the one resource server this authorization server knows. */
  audience: string;
  db: Database;
  keys: SigningKeySet;
  /** Every scope this server issues (the `scopes` table), fixed for this provider instance. */
  scopes: ReadonlySet<string>;
  certificates: ClientCertificateResolver;
  verifier: AccessTokenVerifier;
  /** CDR clients loaded recently; shared across provider rebuilds and told of DCR changes. */
  clients: ClientCache<ClientRow>;
  outbound: OutboundClient;
  logger: Logger;
}

/** Grants this server offers; a stored client's other grants are ignored when it is loaded. */
export const GRANT_TYPES: ReadonlySet<string> = new Set([
  'authorization_code',
  'client_credentials',
  'refresh_token',
]);

/**
 * The OAuth 2.0 / OpenID Connect core on oidc-provider: private_key_jwt client authentication (PS256,
 * ES256; key-manager applications use client_secret_basic), client_credentials and refresh_token grants,
 * PS256 JWT access tokens bound to the client's certificate (RFC 8705), introspection and revocation.
 * The authorization-code flow (PAR, consent) is not offered yet: `/oauth2/authorize` is answered by the
 * server before the provider sees it.
 */
export function buildProvider(options: ProviderOptions): Provider {
  const { config, url, audience, certificates, outbound, logger } = options;
  const scopes = new Set(['openid', 'offline_access', ...options.scopes]);
  const endpoint = (route: string) => `${url}${OAUTH_MOUNT}${route}`;
  const sizeLimit = config.open_banking.dcr.jwks_retriever.size_limit;

  const configuration: Configuration = {
    adapter: createAdapterFactory(options.db, GRANT_TYPES, scopes, options.clients),
    // Signing keys are imported once and sign on the thread pool (local-signing-key.ts); retired keys
    // only verify and stay plain JWKs.
    jwks: {
      keys: options.keys.privateJwks.keys.map((jwk) => (jwk.key_ops ? jwk : new LocalSigningKey(jwk))),
    } as Configuration['jwks'],
    routes: OAUTH_ROUTES,
    // All issued scopes are the provider's own (so a client's registered `scope` limits what it gets); the
    // server rebuilds the provider when the scope table changes.
    scopes: [...scopes],
    responseTypes: config.open_banking_cds.dcr.enable_hybrid_flow ? ['code', 'code id_token'] : ['code'],
    clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: 'PS256',
      token_endpoint_auth_method: 'private_key_jwt',
    },
    enabledJWA: {
      clientAuthSigningAlgValues: [...ALGORITHMS],
      idTokenSigningAlgValues: [...ALGORITHMS],
      requestObjectSigningAlgValues: [...ALGORITHMS],
      userinfoSigningAlgValues: [...ALGORITHMS],
      introspectionSigningAlgValues: [...ALGORITHMS],
      authorizationSigningAlgValues: [...ALGORITHMS],
    },
    extraClientMetadata: { properties: [...CDR_CLIENT_METADATA] },
    features: {
      devInteractions: { enabled: false },
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        // The parsed certificate, not its PEM: the provider thumbprints `raw` without re-encoding it.
        getCertificate: (ctx) => certificates.certificateOf(ctx.req),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        async getResourceServerInfo(_ctx, resource, client) {
          if (resource !== audience) throw new errors.InvalidTarget(`unknown resource ${resource}`);
          return {
            scope: client.scope ?? [...scopes].join(' '),
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ACCESS_TOKEN_TTL,
            jwt: { sign: { alg: 'PS256' } },
          };
        },
      },
    },
    discovery: {
      registration_endpoint: `${url}${REGISTRATION_PATH}`,
      // Every endpoint already requires mutual TLS-capable connections on this one port.
      mtls_endpoint_aliases: {
        token_endpoint: endpoint(OAUTH_ROUTES.token),
        revocation_endpoint: endpoint(OAUTH_ROUTES.revocation),
        introspection_endpoint: endpoint(OAUTH_ROUTES.introspection),
        userinfo_endpoint: endpoint(OAUTH_ROUTES.userinfo),
        registration_endpoint: `${url}${REGISTRATION_PATH}`,
      },
    },
    // Client JWKS (jwks_uri) fetches go through the SSRF-guarded client: HTTPS only, time-outs, size cap,
    // private addresses only where configuration allows them.
    fetch: async (input, init) => {
      const method = init?.method ?? 'GET';
      if (method !== 'GET') throw new Error(`outbound ${method} requests are not made`);
      const target = input instanceof Request ? input.url : String(input);
      const { status, body } = await outbound.get(target, 'application/json');
      return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status });
    },
    fetchResponseBodyLimits: { jwks_uri: sizeLimit, sector_identifier_uri: sizeLimit },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: ACCESS_TOKEN_TTL,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 600,
    },
    // No cookies are read without an interactive flow; random keys keep the provider from warning.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };

  const provider = new Provider(options.issuer, configuration);
  detectReplaysAtomically(provider, options.db, options.clients);
  provider.use(structuredTokenEndpoints(options.verifier));
  provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) =>
    logger.error({ err: error }, 'oauth server error'),
  );
  return provider;
}
