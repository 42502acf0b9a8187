import type { FastifyRequest } from 'fastify';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import type { ScopeStore } from '../scopes/store.ts';
import type { DcrDependencies } from './dependencies.ts';
import type { KeySetCache } from './key-set-cache.ts';
import type { RegistrationRules } from './registration-rules.ts';

/** What every step of the registration pipeline shares: dependencies, caches and the rules from configuration. */
export interface DcrRuntime {
  deps: DcrDependencies;
  rules: RegistrationRules;
  /** The scopes this server issues (the identity server's scope table). */
  scopes: ScopeStore;
  /** Register JWKS (operator-configured URLs), cached across Register outages. */
  registerKeys: KeySetCache;
  /** Recipients' JWKS at the SSA's `jwks_uri`, fetched under the SSRF policy. */
  recipientKeys: KeySetCache;
}

/** A client row as the registration endpoint reads it. */
export interface StoredClient {
  client_id: string;
  software_id: string;
  metadata: Record<string, unknown>;
  registration: Record<string, unknown>;
  software_statement: string;
  client_id_issued_at: number;
}

/**
 * One registration request travelling through the pipeline (POST or PUT). Each step reads what the
 * earlier ones established and adds its own result; nothing is persisted until the
 * pipeline has passed (client-store.ts's `insertClient`/`updateClient`).
 */
export interface RegistrationContext {
  runtime: DcrRuntime;
  request: FastifyRequest;
  /** The stored client a PUT updates; undefined for POST. */
  existing?: StoredClient | undefined;
  /** The request JWT exactly as received. */
  jwt: string;
  header: ProtectedHeaderParameters;
  /** Request claims: decoded by `parseRequestJwt`, trustworthy after `verifyRequestSignature`. */
  claims: JWTPayload & Record<string, unknown>;
  /** The software statement exactly as received (returned byte for byte). */
  softwareStatement: string;
  /** Verified SSA claims. */
  ssa: JWTPayload & Record<string, unknown>;
  /** The redirect URIs being registered (the request's subset, or the SSA's). */
  redirectUris: string[];
  /** oidc-provider client metadata (standard names) to store in `clients.metadata`. */
  metadata: Record<string, unknown>;
  /** What the endpoint renders besides `metadata` (SSA metadata promoted to the top level). */
  registration: Record<string, unknown>;
}

export type RegistrationStep = (context: RegistrationContext) => void | Promise<void>;

/** Runs the steps in order; the first one that throws ends the request with its protocol error. */
export async function runSteps(
  context: RegistrationContext,
  steps: readonly RegistrationStep[],
): Promise<void> {
  for (const step of steps) await step(context);
}
