import { randomBytes, randomUUID } from 'node:crypto';
import {
  base64url,
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  SignJWT,
} from 'jose';
import { readSoftwareStatement } from './software-statement.ts';

/**
 * The Accredited Data Recipient's side of CDR registration: its signing keys, the registration request
 * JWT (`POST /register`, `application/jwt`) and `private_key_jwt` client assertions. Used by tests, the
 * smoke test and benchmarks; defaults produce a request a conforming Data Holder accepts, and every
 * claim and header can be overridden or omitted to produce the requests it must reject.
 */

export type RecipientAlg = 'PS256' | 'ES256';

export interface RecipientKeys {
  alg: RecipientAlg;
  kid: string;
  privateKey: CryptoKey;
  /** Private JWK (with `kid`, `alg`): lets a test re-sign with another algorithm over the same key. */
  privateJwk: JWK;
  /** Public JWK with `kid`, `alg` and `use: sig`. */
  publicJwk: JWK;
  /** `{ keys: [publicJwk] }`: what the recipient serves at its `jwks_uri`. */
  jwks: { keys: JWK[] };
}

export interface JwksDocument {
  keys: JWK[];
}

/** A fresh signing key pair; `kid` is the RFC 7638 thumbprint unless given. */
export async function createRecipientKeys(
  options: { alg?: RecipientAlg; kid?: string } = {},
): Promise<RecipientKeys> {
  const alg = options.alg ?? 'PS256';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const exported = await exportJWK(publicKey);
  const kid = options.kid ?? (await calculateJwkThumbprint(exported));
  const publicJwk: JWK = { ...exported, kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
    publicJwk,
    jwks: { keys: [publicJwk] },
  };
}

/** Client metadata of a CDR registration request (DCR v0.2 lineage), beside the JWT's own claims. */
export interface RegistrationRequestClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  token_endpoint_auth_method: string;
  token_endpoint_auth_signing_alg: string;
  grant_types: string[];
  response_types: string[];
  application_type: string;
  id_token_signed_response_alg: string;
  request_object_signing_alg: string;
  authorization_signed_response_alg: string;
  redirect_uris: string[];
  software_statement: string;
  [claim: string]: unknown;
}

export interface RegistrationRequestOptions {
  /** The SSA as the Register issued it (compact JWS). */
  ssa: string;
  /** `iss` of the request; defaults to the SSA's `software_id`. */
  softwareId?: string;
  /** The Data Holder's issuer (`https://<IS>:9446/oauth2/token`). */
  audience: string;
  key: RecipientKeys;
  /** Claims replacing the defaults; a value of `undefined` removes the claim. */
  claims?: Partial<RegistrationRequestClaims> & Record<string, unknown>;
  /** Header parameters replacing the defaults (`alg`, `kid`, `typ`); see `signJwt` for other algs. */
  header?: Partial<JWTHeaderParameters> & Record<string, unknown>;
  /** Claim names to leave out (after overrides). */
  omit?: readonly string[];
  /** Seconds since the epoch used for `iat`/`exp`; defaults to now. */
  now?: number;
  /** Lifetime in seconds (`exp - iat`); default 300. */
  expiresIn?: number;
}

/**
 * A signed registration request with CDR defaults: `private_key_jwt` with the key's algorithm, grant
 * types client_credentials/authorization_code/refresh_token, response type `code`, PS256 ID tokens and
 * JARM responses, `application_type: web`, the SSA's redirect URIs, 5-minute lifetime, random `jti`.
 */
export async function buildRegistrationRequest(options: RegistrationRequestOptions): Promise<string> {
  const ssa = readSoftwareStatement(options.ssa);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const defaults: RegistrationRequestClaims = {
    iss: options.softwareId ?? ssa.software_id,
    aud: options.audience,
    iat: now,
    exp: now + (options.expiresIn ?? 300),
    jti: randomUUID(),
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: options.key.alg,
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: 'web',
    id_token_signed_response_alg: 'PS256',
    request_object_signing_alg: options.key.alg,
    authorization_signed_response_alg: 'PS256',
    redirect_uris: [...(ssa.redirect_uris ?? [])],
    software_statement: options.ssa,
  };
  const claims = applyOverrides(defaults, options.claims, options.omit);
  return signJwt(claims, { typ: 'JWT', ...options.header }, options.key);
}

export interface ClientAssertionOptions {
  clientId: string;
  /** The token endpoint (or the issuer, which oidc-provider also accepts as `aud`). */
  audience: string;
  key: RecipientKeys;
  claims?: Record<string, unknown>;
  header?: Partial<JWTHeaderParameters> & Record<string, unknown>;
  now?: number;
  /** Lifetime in seconds; default 120. */
  expiresIn?: number;
}

/** A `private_key_jwt` client assertion (RFC 7523): iss = sub = client_id, aud = the token endpoint. */
export async function buildClientAssertion(options: ClientAssertionOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims = applyOverrides(
    {
      iss: options.clientId,
      sub: options.clientId,
      aud: options.audience,
      iat: now,
      exp: now + (options.expiresIn ?? 120),
      jti: randomUUID(),
    },
    options.claims,
  );
  return signJwt(claims, { typ: 'JWT', ...options.header }, options.key);
}

/** The form fields that carry a client assertion to the token endpoint. */
export function clientAssertionFields(assertion: string): Record<string, string> {
  return {
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  };
}

/**
 * Signs `payload` with `key`. The header defaults to the key's `alg` and `kid`; a different `alg` lets
 * tests produce what a Data Holder must refuse: `none` gives an unsecured JWT, `HS*` an HMAC over
 * `hmacSecret` (random when not given), any other asymmetric alg re-uses the key material (e.g. RS256
 * with a PS256 RSA key).
 */
export async function signJwt(
  payload: Record<string, unknown>,
  header: Partial<JWTHeaderParameters> & Record<string, unknown>,
  key: RecipientKeys,
  options: { hmacSecret?: Uint8Array } = {},
): Promise<string> {
  const protectedHeader = { kid: key.kid, ...header, alg: header.alg ?? key.alg } as JWTHeaderParameters;
  const alg = protectedHeader.alg;
  if (alg === 'none') {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
    return `${encode(protectedHeader)}.${encode(payload)}.`;
  }
  let signingKey: CryptoKey | Uint8Array = key.privateKey;
  if (alg.startsWith('HS')) signingKey = options.hmacSecret ?? randomBytes(32);
  else if (alg !== key.alg) signingKey = (await importJWK({ ...key.privateJwk, alg }, alg)) as CryptoKey;
  return new SignJWT(payload).setProtectedHeader(protectedHeader).sign(signingKey);
}

function applyOverrides<T extends Record<string, unknown>>(
  defaults: T,
  overrides: Record<string, unknown> = {},
  omit: readonly string[] = [],
): T {
  const claims: Record<string, unknown> = { ...defaults, ...overrides };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  for (const name of omit) delete claims[name];
  return claims as T;
}
