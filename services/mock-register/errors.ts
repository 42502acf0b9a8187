import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { logServerError, renderError } from '../../lib/http/errors.ts';

/**
 * Errors of the sandbox Register in the CDR Register's shape: `{"errors":[{"code","title","detail"}]}`
 * with the CDS error URNs (the ones the ACCC mock Register answers with).
 */
export class RegisterError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: string,
    title: string,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'RegisterError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.headers = headers;
  }
  get body() {
    return { errors: [{ code: this.code, title: this.title, detail: this.message }] };
  }
}

export class InvalidField extends RegisterError {
  constructor(detail: string) {
    super(400, 'urn:au-cds:error:cds-all:Field/Invalid', 'Invalid Field', detail);
  }
}

export class Unauthorized extends RegisterError {
  constructor(detail: string, headers: Record<string, string> = {}) {
    super(401, 'urn:au-cds:error:cds-all:Authorisation/Unauthorized', 'Unauthorized', detail, headers);
  }
}

/** The data recipient, its brand or the software product is not ACTIVE in the Register. */
export class AdrStatusNotActive extends RegisterError {
  constructor(detail: string) {
    super(
      403,
      'urn:au-cds:error:cds-all:Authorisation/AdrStatusNotActive',
      'ADR Status Is Not Active',
      detail,
    );
  }
}

export class ResourceNotFound extends RegisterError {
  constructor(detail: string) {
    super(404, 'urn:au-cds:error:cds-all:Resource/NotFound', 'Resource Not Found', detail);
  }
}

/**
 * The one place errors of the Register's routes become responses: its own errors and invalid fields
 * here, everything else (framework 4xx, database unavailable, unexpected) by the service renderer in
 * the CDS shape.
 */
export function renderRegisterError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (error instanceof RegisterError || error instanceof ZodError) {
    const rendered = error instanceof RegisterError ? error : new InvalidField(describeZodError(error));
    reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
    return;
  }
  const rendered = renderError(error, 'cds');
  logServerError(request.log, error, rendered.status);
  reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
}

function describeZodError(error: ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}
