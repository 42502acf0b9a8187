import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { InvalidField, logServerError, renderError } from '../../lib/http/errors.ts';

/**
 * The one place errors of the Register's routes become responses, in the CDS shape: its own errors
 * (lib/http/errors.ts's CDS rows), schema failures as `Field/Invalid`, everything else by the service
 * renderer.
 */
export function renderRegisterError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const rendered = renderError(
    error instanceof ZodError ? new InvalidField(describeZodError(error)) : error,
    'cds',
  );
  logServerError(request.log, error, rendered.status);
  reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
}

function describeZodError(error: ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}
