import type { X509Certificate } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../../lib/config/index.ts';
import type { OutboundClient } from '../../../lib/http/outbound.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { CallerLimits } from '../limits/caller-limits.ts';
import type { RegisterStatus } from '../register-status/register-status.ts';
import type { RevocationStore } from '../revocation/store.ts';
import type { ScopeStore } from '../scopes/store.ts';

/** Verified claims of one of this identity server's access tokens. */
export interface AccessTokenClaims {
  jti: string;
  client_id: string;
  scope: string;
  exp: number;
  cnf?: { 'x5t#S256'?: string };
  [claim: string]: unknown;
}

/**
 * What the DCR endpoint needs from the rest of the identity server. The OAuth core provides it; the DCR
 * module owns the registration rules (docs/dcr-rules.md) and nothing else.
 */
export interface DcrDependencies {
  db: Database;
  config: Config;
  /** This identity server's issuer: the required `aud` of registration requests. */
  issuer: string;
  logger: Logger;
  /** Fetches ADR JWKS, sector identifiers and URI checks under the SSRF policy. */
  outbound: OutboundClient;
  /**
   * The caller's client certificate: the one presented on this TLS connection (verified against the
   * truststore), or the one the gateway forwarded when — and only when — the connection is the gateway's.
   */
  clientCertificate(request: FastifyRequest): X509Certificate | undefined;
  /** True when the request came on the gateway's connection (internal CA, CN=obkit-gateway). */
  isGatewayConnection(request: FastifyRequest): boolean;
  /**
   * True when the Authorization header carries the gateway's Basic credential for the DCR backend;
   * throws TooManyRequests while repeated bad passwords keep the account locked (lib/limits).
   */
  isGatewayCredential(authorization: string | undefined): Promise<boolean>;
  /** Per-client and per-source request limits of the token and DCR endpoints. */
  callerLimits: CallerLimits;
  /** Verifies signature, expiry and revocation of an access token; throws InvalidToken otherwise. */
  verifyAccessToken(token: string): Promise<AccessTokenClaims>;
  /** Where a deleted client's tokens are revoked, for this server and every gateway. */
  revocations: RevocationStore;
  /** The scopes this server issues: the one store the scopes API writes through, so a new scope counts at once. */
  scopes: ScopeStore;
  /** The CDR Register's statuses: registration management is refused to what is not ACTIVE there. */
  registerStatus: RegisterStatus;
  /** A registration was updated or deleted: the OAuth core forgets what it had loaded of the client. */
  clientChanged(clientId: string): void;
}
