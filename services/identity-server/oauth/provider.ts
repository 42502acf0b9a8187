import { createHmac } from 'node:crypto';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { sandboxCustomer } from '../../../lib/cdr/sandbox-customers.ts';
import type { Config } from '../../../lib/config/index.ts';
import type { OutboundClient } from '../../../lib/http/outbound.ts';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { ArrangementStore } from '../arrangements/store.ts';
import { CONSENT_PATH } from '../consent/routes.ts';
import type { AccessTokenVerifier } from './access-tokens.ts';
import { CDR_CLIENT_METADATA, type ClientRow, createAdapterFactory } from './adapter.ts';
import { arrangementInTokenResponse } from './arrangement-token-response.ts';
import { answerAuthorizationError } from './authorization-errors.ts';
import { cdrRequestParameters } from './cdr-request-parameters.ts';
import type { ClientCache } from './client-cache.ts';
import type { ClientCertificateResolver } from './client-certificate.ts';
import { answerKnownServerError, type EndpointMethods, jsonErrors } from './json-errors.ts';
import { LocalSigningKey } from './local-signing-key.ts';
import { detectReplaysAtomically } from './replay-detection.ts';
import { redeemRequestUriOnce } from './request-uri-redemption.ts';
import type { SigningKeySet } from './signing-keys.ts';
import { structuredTokenEndpoints } from './structured-tokens.ts';

/** Where the provider is mounted and its routes under it: WSO2 IS's paths. */
export const OAUTH_MOUNT = '/oauth2';
export const OAUTH_ROUTES = {
  authorization: '/authorize',
  pushed_authorization_request: '/par',
  token: '/token',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  userinfo: '/userinfo',
} as const;
/** The methods the provider answers on each path under the mount (discovery also at its own well-known path). */
const ENDPOINT_METHODS: EndpointMethods = {
  [OAUTH_ROUTES.authorization]: ['GET', 'HEAD'],
  [OAUTH_ROUTES.pushed_authorization_request]: ['POST', 'OPTIONS'],
  [OAUTH_ROUTES.token]: ['POST', 'OPTIONS'],
  [OAUTH_ROUTES.jwks]: ['GET', 'HEAD', 'OPTIONS'],
  [OAUTH_ROUTES.introspection]: ['POST', 'OPTIONS'],
  [OAUTH_ROUTES.revocation]: ['POST', 'OPTIONS'],
  [OAUTH_ROUTES.userinfo]: ['GET', 'HEAD', 'POST', 'OPTIONS'],
  '/.well-known/openid-configuration': ['GET', 'HEAD', 'OPTIONS'],
  '/.well-known/oauth-authorization-server': ['GET', 'HEAD', 'OPTIONS'],
};

import { REGISTRATION_PATH } from '../../../lib/wso2/identity-server-paths.ts';

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
  /** Opens key-manager applications' client secrets. */
  secrets: SecretBox;
  keys: SigningKeySet;
  /** Every scope this server issues (the `scopes` table), fixed for this provider instance. */
  scopes: ReadonlySet<string>;
  certificates: ClientCertificateResolver;
  verifier: AccessTokenVerifier;
  /** CDR clients loaded recently; shared across provider rebuilds and told of DCR changes. */
  clients: ClientCache<ClientRow>;
  outbound: OutboundClient;
  arrangements: ArrangementStore;
  /** Sign the interaction and session cookies; the same for every provider this process builds. */
  cookieKeys: string[];
  /** Keys pairwise subjects: the same customer has one `sub` per sector, on every replica. */
  pairwiseSalt: string;
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
 *
 * The authorization-code flow is the CDR's (FAPI 1.0 Advanced with PAR): a signed request object
 * (PS256/ES256, `exp` − `nbf` ≤ 60 min, `aud` the issuer) pushed over mutual TLS with private_key_jwt,
 * PKCE S256, `response_type=code` with `response_mode=jwt` (JARM); the authorisation endpoint takes
 * nothing but a pushed `request_uri`, once; the customer logs in and consents on the sandbox consent
 * pages (consent/routes.ts).
 */
export function buildProvider(options: ProviderOptions): Provider {
  const { config, url, outbound, logger } = options;
  const scopes = new Set(['openid', 'offline_access', ...options.scopes]);
  const endpoint = (route: string) => `${url}${OAUTH_MOUNT}${route}`;
  const sizeLimit = config.open_banking.dcr.jwks_retriever.size_limit;

  const configuration: Configuration = {
    adapter: createAdapterFactory(options.db, options.secrets, GRANT_TYPES, scopes, options.clients),
    // Signing keys are imported once and sign on the thread pool (local-signing-key.ts); retired keys
    // only verify and stay plain JWKs.
    jwks: {
      keys: options.keys.privateJwks.keys.map((jwk) => (jwk.key_ops ? jwk : new LocalSigningKey(jwk))),
    } as Configuration['jwks'],
    routes: OAUTH_ROUTES,
    extraParams: cdrRequestParameters(options.arrangements),
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `${CONSENT_PATH}/${interaction.uid}` },
    ...consentPolicy(options),
    // All issued scopes are the provider's own (so a client's registered `scope` limits what it gets); the
    // server rebuilds the provider when the scope table changes.
    scopes: [...scopes],
    responseTypes: config.open_banking_cds.dcr.enable_hybrid_flow ? ['code', 'code id_token'] : ['code'],
    clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: 'PS256',
      authorization_signed_response_alg: 'PS256',
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
    features: providerFeatures(options, scopes),
    discovery: {
      registration_endpoint: `${url}${REGISTRATION_PATH}`,
      // Every endpoint already requires mutual TLS-capable connections on this one port.
      mtls_endpoint_aliases: {
        token_endpoint: endpoint(OAUTH_ROUTES.token),
        revocation_endpoint: endpoint(OAUTH_ROUTES.revocation),
        introspection_endpoint: endpoint(OAUTH_ROUTES.introspection),
        userinfo_endpoint: endpoint(OAUTH_ROUTES.userinfo),
        pushed_authorization_request_endpoint: endpoint(OAUTH_ROUTES.pushed_authorization_request),
        registration_endpoint: `${url}${REGISTRATION_PATH}`,
      },
    },
    // Client JWKS (jwks_uri) fetches go through the SSRF-guarded client: HTTPS only, time-outs, size cap,
    // private addresses only where configuration allows them.
    fetch: guardedFetch(outbound),
    fetchResponseBodyLimits: { jwks_uri: sizeLimit, sector_identifier_uri: sizeLimit },
    ttl: TOKEN_LIFETIMES,
    cookies: { keys: options.cookieKeys },
    async renderError(ctx, out) {
      answerAuthorizationError(ctx, out);
    },
  };

  const provider = new Provider(options.issuer, configuration);
  // First, so that it wraps every other middleware and the provider's routes.
  provider.use(jsonErrors(ENDPOINT_METHODS, logger));
  provider.use(redeemRequestUriOnce(options.db, OAUTH_ROUTES.authorization));
  detectReplaysAtomically(provider, options.db, options.clients);
  provider.use(structuredTokenEndpoints(options.verifier));
  provider.use(arrangementInTokenResponse(options.arrangements));
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) =>
    answerKnownServerError(ctx, error, logger),
  );
  return provider;
}

/** The CDR's consent rules: sandbox customers, pairwise subjects, refresh tokens and arrangement claims. */
function consentPolicy(options: ProviderOptions): Partial<Configuration> {
  return {
    // The sandbox's test customers are the only accounts; the consent pages log them in.
    findAccount: (_ctx, sub) =>
      sandboxCustomer(sub) ? { accountId: sub, claims: () => ({ sub }) } : undefined,
    subjectTypes: ['public', 'pairwise'],
    pairwiseIdentifier: async (_ctx, accountId, client) =>
      createHmac('sha256', options.pairwiseSalt)
        .update(`${client.sectorIdentifier}\n${accountId}`)
        .digest('base64url'),
    // A refresh token only for a consent that shares beyond once, living as long as the sharing period
    // (its grant's lifetime, consent/routes.ts); not rotated, so it never outlives the arrangement.
    issueRefreshToken: async (_ctx, client, code) => {
      if (!client.grantTypeAllowed('refresh_token') || !code.grantId) return false;
      const arrangement = await options.arrangements.findByGrant(code.grantId);
      return arrangement?.status === 'active' && arrangement.sharingDuration > 0;
    },
    rotateRefreshToken: false,
    extraTokenClaims: async (_ctx, token) => {
      if (!('grantId' in token) || !token.grantId) return undefined;
      const arrangement = await options.arrangements.findByGrant(token.grantId);
      return arrangement ? { cdr_arrangement_id: arrangement.arrangementId } : undefined;
    },
    // Every authorisation asks for consent afresh (CDR): only the grant of this interaction counts.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
  };
}

function providerFeatures(options: ProviderOptions, scopes: Set<string>): Configuration['features'] {
  const { certificates, audience } = options;
  return {
    devInteractions: { enabled: false },
    externalSigningSupport: { enabled: true, ack: 'experimental-01' },
    rpInitiatedLogout: { enabled: false },
    // FAPI 1.0 Final: request objects need exp, nbf (≤ 60 min apart) and aud; PAR needs PKCE; the
    // code flow answers with JARM.
    fapi: { enabled: true, profile: '1.0 Final' },
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: true,
      allowUnregisteredRedirectUris: false,
    },
    requestObjects: { enabled: true, requireSignedRequestObject: true },
    jwtResponseModes: { enabled: true },
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
  };
}

const TOKEN_LIFETIMES: Configuration['ttl'] = {
  AccessToken: ACCESS_TOKEN_TTL,
  ClientCredentials: ACCESS_TOKEN_TTL,
  AuthorizationCode: 60,
  IdToken: ACCESS_TOKEN_TTL,
  RefreshToken: (ctx) => {
    const grant = ctx?.oidc?.entities.Grant;
    return grant?.exp ? Math.max(grant.exp - Math.floor(Date.now() / 1000), 1) : ACCESS_TOKEN_TTL;
  },
  Grant: 14 * 24 * 3600,
  Session: 14 * 24 * 3600,
  Interaction: 600,
};

/** Client JWKS and sector identifier fetches for the provider, GET only, through the outbound policy. */
function guardedFetch(outbound: ProviderOptions['outbound']): Configuration['fetch'] {
  return async (input, init) => {
    const method = init?.method ?? 'GET';
    if (method !== 'GET') throw new Error(`outbound ${method} requests are not made`);
    const target = input instanceof Request ? input.url : String(input);
    const { status, body } = await outbound.get(target, 'application/json');
    return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status });
  };
}
