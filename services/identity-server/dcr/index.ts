import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  InvalidClient,
  InvalidSoftwareStatement,
  MethodNotAllowed,
  UnsupportedMediaType,
} from '../../../lib/http/errors.ts';
import { OutboundClient } from '../../../lib/http/outbound.ts';
import { clientRevocation } from '../revocation/store.ts';
import { authenticateCaller } from './authenticate-caller.ts';
import { buildClientMetadata } from './build-client-metadata.ts';
import { checkRedirectUriHostnames, checkUriHostnames } from './check-hostnames.ts';
import { checkRedirectUris } from './check-redirect-uris.ts';
import { checkRequestClaims } from './check-request-claims.ts';
import { checkSectorIdentifier } from './check-sector-identifier.ts';
import { checkUrisAnswer } from './check-uris-answer.ts';
import { deleteClient, insertClient, updateClient } from './client-store.ts';
import {
  type DcrRuntime,
  type RegistrationContext,
  type RegistrationStep,
  runSteps,
  type StoredClient,
} from './context.ts';
import type { DcrDependencies } from './dependencies.ts';
import { KeySetCache } from './key-set-cache.ts';
import { parseRequestJwt } from './parse-request-jwt.ts';
import { registrationRules } from './registration-rules.ts';
import { renderRegistration } from './render-registration.ts';
import { verifyRequestSignature } from './verify-request-signature.ts';
import { verifySoftwareStatement } from './verify-software-statement.ts';

/**
 * Reading this list is reading docs/dcr-rules.md: each step checks one thing and persists nothing
 * (`obkit dcr explain` runs the same list offline).
 */
export const validateRegistrationRequest: readonly RegistrationStep[] = [
  parseRequestJwt,
  verifySoftwareStatement,
  verifyRequestSignature,
  checkRequestClaims,
  checkRedirectUris,
  checkRedirectUriHostnames,
  checkUriHostnames,
  checkUrisAnswer,
  checkSectorIdentifier,
  buildClientMetadata,
];

/** PUT: the same checks, and the SSA must be for the software product already registered. */
const validateRegistrationUpdate: readonly RegistrationStep[] = [
  parseRequestJwt,
  verifySoftwareStatement,
  checkSameSoftwareProduct,
  verifyRequestSignature,
  checkRequestClaims,
  checkRedirectUris,
  checkRedirectUriHostnames,
  checkUriHostnames,
  checkUrisAnswer,
  checkSectorIdentifier,
  buildClientMetadata,
];

const REGISTER_KEYS_MAX_AGE_MS = 10 * 60_000;
const REGISTER_KEYS_COOLDOWN_MS = 30_000;
const RECIPIENT_KEYS_MAX_AGE_MS = 60_000;

/**
 * CDR Dynamic Client Registration (docs/dcr-rules.md), mounted by the identity server at
 * `/api/openbanking/dynamic-client-registration`: POST /register, GET|PUT|DELETE /register/{ClientId}.
 */
export function dcrRoutes(deps: DcrDependencies) {
  return async function dcrPlugin(app: FastifyInstance): Promise<void> {
    const runtime = createRuntime(deps);
    app.addHook('onClose', () => runtime.close());
    // Abuse limits first: a refused call costs one counter update, not a signature check.
    app.addHook('onRequest', async (request) => {
      await deps.callerLimits.dcr(request.raw);
    });

    // Bodies are registration JWTs; any other media type is refused before a handler runs.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/jwt', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    app.addContentTypeParser('*', (_request, _payload, done) =>
      done(new UnsupportedMediaType('application/jwt')),
    );

    app.post('/register', async (request, reply) => {
      requireClientCertificate(deps, request);
      const context = newContext(runtime, request);
      await runSteps(context, validateRegistrationRequest);
      const client = await insertClient(context);
      deps.logger.info({ client_id: client.client_id, software_id: client.software_id }, 'client registered');
      reply.code(201).send(renderRegistration(client));
    });

    app.get<{ Params: { clientId: string } }>('/register/:clientId', async (request) => {
      return renderRegistration(await authenticateCaller(deps, request));
    });

    app.put<{ Params: { clientId: string } }>('/register/:clientId', async (request) => {
      const existing = await authenticateCaller(deps, request);
      const context = newContext(runtime, request, existing);
      await runSteps(context, validateRegistrationUpdate);
      const client = await updateClient(context, existing);
      deps.clientChanged(client.client_id);
      deps.logger.info(
        { client_id: client.client_id, software_id: client.software_id },
        'registration updated',
      );
      return renderRegistration(client);
    });

    app.delete<{ Params: { clientId: string } }>('/register/:clientId', async (request, reply) => {
      const client = await authenticateCaller(deps, request);
      // The deletion and the revocation of every token of the client commit together.
      const deleted = await deps.revocations.transaction(async (tx, revoke) => {
        const removed = await deleteClient(tx, client.client_id);
        if (removed) await revoke([clientRevocation(client.client_id)]);
        return removed;
      });
      deps.clientChanged(client.client_id);
      if (!deleted) throw new InvalidClient('the client is not registered');
      deps.logger.info(
        { client_id: client.client_id, software_id: client.software_id },
        'registration deleted',
      );
      reply.code(204).send();
    });

    methodNotAllowed(app, '/register', ['POST']);
    methodNotAllowed(app, '/register/:clientId', ['GET', 'PUT', 'DELETE']);
  };
}

function createRuntime(deps: DcrDependencies): DcrRuntime & { close(): Promise<void> } {
  // Register JWKS URLs come from the operator's configuration, not from a client, so the private-address
  // guard (which protects against client-chosen URLs) does not apply to them.
  const registerClient = new OutboundClient(
    { ...deps.outbound.policy, allowPrivateAddresses: true },
    deps.logger,
  );
  return {
    deps,
    rules: registrationRules(deps.config),
    scopes: deps.scopes,
    registerKeys: new KeySetCache({
      fetch: (url) => registerClient.getJson(url),
      maxAgeMs: REGISTER_KEYS_MAX_AGE_MS,
      cooldownMs: REGISTER_KEYS_COOLDOWN_MS,
      serveStaleOnError: true,
      maxEntries: 8,
    }),
    recipientKeys: new KeySetCache({
      fetch: (url) => deps.outbound.getJson(url),
      maxAgeMs: RECIPIENT_KEYS_MAX_AGE_MS,
      cooldownMs: deps.config.open_banking.dcr.jwks_retriever.refetch_cooldown,
      serveStaleOnError: false,
      maxEntries: 1_000,
    }),
    close: () => registerClient.close(),
  };
}

function newContext(
  runtime: DcrRuntime,
  request: FastifyRequest,
  existing?: StoredClient,
): RegistrationContext {
  return { runtime, request, existing } as RegistrationContext;
}

/** POST is authenticated by the request JWT's signature, but only over mutual TLS (direct or via the gateway). */
function requireClientCertificate(deps: DcrDependencies, request: FastifyRequest): void {
  if (!deps.clientCertificate(request)) {
    throw new InvalidClient('registration requires mutual TLS with a client transport certificate');
  }
}

function checkSameSoftwareProduct(context: RegistrationContext): void {
  if (context.ssa.software_id !== context.existing?.software_id) {
    throw new InvalidSoftwareStatement(
      'the software statement is for another software product than this client',
    );
  }
}

function methodNotAllowed(app: FastifyInstance, url: string, allowed: string[]): void {
  const others = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter(
    (method) => !allowed.includes(method) && !(method === 'HEAD' && allowed.includes('GET')),
  );
  app.route({
    method: others,
    url,
    // onRequest, so the 405 comes before body parsing could answer 415.
    onRequest: async () => {
      throw new MethodNotAllowed(allowed);
    },
    handler: async () => {},
  });
}
