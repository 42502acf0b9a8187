import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  type FetchImplementation,
  importX509,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { type Dispatcher, request, fetch as undiciFetch } from 'undici';
import type { SnapshotKeyManager } from '../../lib/gateway-feed/snapshot.ts';
import { InvalidToken, TemporarilyUnavailable } from '../../lib/http/errors.ts';
import type { Revocations } from './revocations.ts';
import type { Runtime } from './runtime.ts';

/** An access token the gateway accepted, reduced to what authorisation and mediation need. */
export interface ValidatedToken {
  keyManager: SnapshotKeyManager;
  clientId: string;
  subject: string | undefined;
  scopes: ReadonlySet<string>;
  /** `cnf.x5t#S256`: the thumbprint of the certificate the token is bound to (RFC 8705). */
  boundThumbprint: string | undefined;
  /** Every claim, for the revocation check on each use (a revocation may name any of them). */
  claims: JWTPayload;
  /** Until when this result may be reused, epoch ms. */
  validUntil: number;
}

type CryptoKeyLike = Awaited<ReturnType<typeof importX509>>;

/** FAPI 1.0 / CDS signing algorithms; RS256 and everything else is refused. */
const ALGORITHMS = ['PS256', 'ES256'];
/** RFC 9068: access tokens say so in their header, so an ID token or other JWT is never taken for one. */
const ACCESS_TOKEN_TYPE = 'at+jwt';
const CLOCK_TOLERANCE_SECONDS = 5;
const MAX_CACHED = 50_000;
/**
 * Introspection answers are reused at most this long, so a revocation takes effect within seconds at a
 * key manager without a revocation feed (with one, its feed applies to introspected tokens too).
 */
const INTROSPECTION_CACHE_MS = 4000;

/**
 * Validates access tokens against the enabled key managers of the current snapshot: JWTs by issuer →
 * key manager → signature via its JWKS (fetched, cached and refreshed on an unknown `kid` by jose) or
 * PEM, `exp`/`nbf`; opaque tokens, or JWTs of a key manager that does not self-validate, by
 * introspection. Results are cached per token until expiry, so the hot path verifies a signature once
 * per token; the cache is dropped whenever a new snapshot (key managers) arrives. Revocation is checked
 * on every use, cached or not, against the key manager's revocation feed (revocations.ts).
 */
export class TokenValidator {
  readonly #dispatcher: Dispatcher;
  readonly #jwks = new Map<string, JWTVerifyGetKey>();
  readonly #pems = new Map<string, Promise<CryptoKeyLike>>();
  readonly #cache = new Map<string, ValidatedToken>();
  readonly #timeoutMs: number;
  readonly #revocations: Revocations;

  constructor(dispatcher: Dispatcher, timeoutMs: number, revocations: Revocations) {
    this.#dispatcher = dispatcher;
    this.#timeoutMs = timeoutMs;
    this.#revocations = revocations;
  }

  /** Forget every cached result (a new snapshot may have disabled a key manager). */
  reset(): void {
    this.#cache.clear();
  }

  /** The cached result for a token still within its validity and not revoked, if any. */
  cached(token: string, now = Date.now()): ValidatedToken | undefined {
    const cached = this.#cache.get(token);
    if (!cached) return undefined;
    if (cached.validUntil > now) {
      this.#revocations.check(cached.keyManager, cached.claims, now);
      return cached;
    }
    this.#cache.delete(token);
    return undefined;
  }

  async validate(token: string, runtime: Runtime, now = Date.now()): Promise<ValidatedToken> {
    const cached = this.cached(token, now);
    if (cached) return cached;
    const validated = await this.#validateUncached(token, runtime, now);
    this.#revocations.check(validated.keyManager, validated.claims, Date.now());
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(token, validated);
    return validated;
  }

  async #validateUncached(token: string, runtime: Runtime, now: number): Promise<ValidatedToken> {
    let unverified: JWTPayload | undefined;
    try {
      unverified = decodeJwt(token);
    } catch {
      unverified = undefined;
    }
    if (!unverified) return this.#introspectAny(token, runtime, now);
    const issuer = unverified.iss;
    const keyManager = issuer === undefined ? undefined : runtime.keyManagersByIssuer.get(issuer);
    if (!keyManager) throw new InvalidToken('the access token was not issued by a known key manager');
    if (!keyManager.enabled) throw new InvalidToken(`the key manager ${keyManager.name} is disabled`);
    if (!selfValidates(keyManager)) return this.#introspect(token, keyManager, now);
    const audience = audienceOf(keyManager);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keyFor(keyManager, token), {
        issuer: keyManager.issuer!,
        audience,
        typ: ACCESS_TOKEN_TYPE,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(now),
      }));
    } catch (error) {
      throw tokenError(error);
    }
    if (typeof payload.exp !== 'number') throw new InvalidToken('the access token has no expiry');
    return toValidated(keyManager, payload, Math.min(payload.exp * 1000, now + 86_400_000));
  }

  #keyFor(keyManager: SnapshotKeyManager, token: string): JWTVerifyGetKey {
    if (keyManager.jwksUri) {
      let jwks = this.#jwks.get(keyManager.jwksUri);
      if (!jwks) {
        const dispatcher = this.#dispatcher;
        const fetchThroughGateway: FetchImplementation = (url, options) =>
          undiciFetch(url, { ...options, dispatcher } as Parameters<
            typeof undiciFetch
          >[1]) as unknown as Promise<Response>;
        jwks = createRemoteJWKSet(new URL(keyManager.jwksUri), {
          timeoutDuration: this.#timeoutMs,
          cooldownDuration: 5000,
          cacheMaxAge: 600_000,
          [customFetch]: fetchThroughGateway,
        });
        this.#jwks.set(keyManager.jwksUri, jwks);
      }
      return jwks;
    }
    if (keyManager.certificatePem) {
      const alg = decodeProtectedHeader(token).alg ?? 'PS256';
      const cacheKey = `${alg}\u0000${keyManager.certificatePem}`;
      let key = this.#pems.get(cacheKey);
      if (!key) {
        key = importX509(keyManager.certificatePem, alg) as Promise<CryptoKeyLike>;
        this.#pems.set(cacheKey, key);
      }
      const pinned = key;
      return () => pinned;
    }
    throw new InvalidToken(`the key manager ${keyManager.name} publishes no signing keys`);
  }

  async #introspectAny(token: string, runtime: Runtime, now: number): Promise<ValidatedToken> {
    for (const keyManager of runtime.keyManagers) {
      if (!keyManager.enabled || !keyManager.introspectionEndpoint || !introspects(keyManager)) continue;
      try {
        return await this.#introspect(token, keyManager, now);
      } catch (error) {
        if (error instanceof TemporarilyUnavailable) throw error;
      }
    }
    throw new InvalidToken('the access token is not active');
  }

  async #introspect(token: string, keyManager: SnapshotKeyManager, now: number): Promise<ValidatedToken> {
    if (!keyManager.introspectionEndpoint) {
      throw new InvalidToken(`the key manager ${keyManager.name} cannot validate this access token`);
    }
    let claims: JWTPayload & { active?: boolean };
    try {
      const response = await request(keyManager.introspectionEndpoint, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token }).toString(),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new Error(`HTTP ${response.statusCode}`);
      }
      claims = (await response.body.json()) as typeof claims;
    } catch (error) {
      throw new TemporarilyUnavailable(
        `the key manager ${keyManager.name} could not introspect the token: ${(error as Error).message}`,
        5,
      );
    }
    if (claims.active !== true) throw new InvalidToken('the access token is not active');
    const audience = audienceOf(keyManager);
    if (!(Array.isArray(claims.aud) ? claims.aud : [claims.aud]).includes(audience)) {
      throw new InvalidToken(`the access token is not for this gateway's audience ${audience}`);
    }
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= now)
      throw new InvalidToken('the access token expired');
    const until = Math.min(
      typeof claims.exp === 'number' ? claims.exp * 1000 : now,
      now + INTROSPECTION_CACHE_MS,
    );
    return toValidated(keyManager, claims, until);
  }
}

/** The `aud` every token of the key manager must carry; a key manager without one has no token accepted. */
function audienceOf(keyManager: SnapshotKeyManager): string {
  if (!keyManager.audience) {
    throw new InvalidToken(`the key manager ${keyManager.name} names no audience for its access tokens`);
  }
  return keyManager.audience;
}

function selfValidates(keyManager: SnapshotKeyManager): boolean {
  if (keyManager.enableSelfValidationJWT) return true;
  return keyManager.tokenValidation.some((rule) => rule.enable && rule.type === 'JWT');
}

function introspects(keyManager: SnapshotKeyManager): boolean {
  return (
    !selfValidates(keyManager) ||
    keyManager.tokenValidation.some((rule) => rule.enable && rule.type === 'REFERENCE')
  );
}

function toValidated(keyManager: SnapshotKeyManager, claims: JWTPayload, validUntil: number): ValidatedToken {
  const clientId =
    stringClaim(claims[keyManager.consumerKeyClaim]) ??
    stringClaim(claims.client_id) ??
    stringClaim(claims.azp);
  if (!clientId) throw new InvalidToken('the access token names no client');
  const scopeClaim = claims[keyManager.scopesClaim];
  const scopes = new Set(
    Array.isArray(scopeClaim)
      ? scopeClaim.filter((scope): scope is string => typeof scope === 'string')
      : typeof scopeClaim === 'string'
        ? scopeClaim.split(' ').filter(Boolean)
        : [],
  );
  const confirmation = claims.cnf as { 'x5t#S256'?: unknown } | undefined;
  return {
    keyManager,
    clientId,
    subject: stringClaim(claims.sub),
    scopes,
    boundThumbprint: stringClaim(confirmation?.['x5t#S256']),
    claims,
    validUntil,
  };
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function tokenError(error: unknown): Error {
  if (error instanceof joseErrors.JWTExpired) return new InvalidToken('the access token expired');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new InvalidToken(`the access token must be signed with ${ALGORITHMS.join(' or ')}`);
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new InvalidToken(`the access token claim ${error.claim} is not valid: ${error.reason}`);
  }
  if (error instanceof joseErrors.JWKSTimeout || (error as Error).name === 'TypeError') {
    return new TemporarilyUnavailable('the key manager signing keys could not be fetched', 5);
  }
  if (error instanceof joseErrors.JOSEError)
    return new InvalidToken(`the access token is not valid (${error.code})`);
  return new InvalidToken('the access token is not valid');
}
