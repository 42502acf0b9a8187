import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../../lib/http/errors.ts';
import type { AdminCredential } from '../admin/credential.ts';
import type { ScopeStore } from './store.ts';

/**
 * `/api/identity/oauth2/v1.0/scopes`: WSO2 IS's scope management, which the API manager's key-manager
 * connector uses to register API scopes. Admin Basic required; errors in WSO2's REST shape.
 */

/** RFC 6749 §3.3 scope-token characters. */
const scopeName = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,255}$/, 'not a valid scope token');
const scopeRequest = z.looseObject({
  name: scopeName,
  displayName: z.string().min(1).max(255),
  description: z.string().max(1024).default(''),
  bindings: z.array(z.string()).default([]),
});

export interface ScopeRoutesOptions {
  scopes: ScopeStore;
  adminCredential: AdminCredential;
}

export async function scopeRoutes(app: FastifyInstance, options: ScopeRoutesOptions): Promise<void> {
  const { scopes } = options;
  app.addHook('onRequest', async (request) => {
    if (!(await options.adminCredential.verify(request.headers.authorization))) {
      throw new ApiError(401, 'Unauthorized', 'the identity server admin credential is required');
    }
  });

  app.get('/', async () => scopes.list());

  app.post('/', async (request, reply) => {
    const parsed = scopeRequest.safeParse(request.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ApiError(400, 'Bad Request', `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const scope = parsed.data;
    const created = await scopes.create({
      name: scope.name,
      displayName: scope.displayName,
      description: scope.description,
      bindings: scope.bindings,
    });
    if (!created) throw new ApiError(409, 'Conflict', `Scope with the name ${scope.name} already exists`);
    reply.code(201).send(await scopes.get(scope.name));
  });

  app.get<{ Params: { name: string } }>('/name/:name', async (request) => {
    const scope = await scopes.get(request.params.name);
    if (!scope) throw new ApiError(404, 'Not Found', `Scope ${request.params.name} does not exist`);
    return scope;
  });
}
