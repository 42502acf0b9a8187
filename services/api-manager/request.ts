import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ApiError } from '../../lib/http/errors.ts';

/** A 400 naming the first invalid field of a request body. */
export function invalidField(error: z.ZodError, prefix = ''): ApiError {
  const issue = error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)';
  return new ApiError(400, 'Bad Request', `invalid field ${field}: ${issue.message}`);
}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, prefix = ''): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw invalidField(parsed.error, prefix);
  return parsed.data;
}

export function badRequest(description: string): ApiError {
  return new ApiError(400, 'Bad Request', description);
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError(404, 'Not Found', `${what} ${id} not found`);
}

export function conflict(description: string): ApiError {
  return new ApiError(409, 'Conflict', description);
}

/** A WSO2 list answer holding every item on one page (`count`, `list`, `pagination`). */
export function wholeList<T>(list: T[]) {
  return { count: list.length, list, pagination: { offset: 0, limit: list.length, total: list.length } };
}

const MULTIPART_FIELD_LIMIT = 2 * 1024 * 1024;

/** Every part of a multipart request as text (fields and files alike), size-capped. */
export async function readMultipart(request: FastifyRequest): Promise<Record<string, string>> {
  if (!request.isMultipart()) throw badRequest('the request must be multipart/form-data');
  const parts: Record<string, string> = {};
  try {
    for await (const part of request.parts({
      limits: { fileSize: MULTIPART_FIELD_LIMIT, fieldSize: MULTIPART_FIELD_LIMIT },
    })) {
      if (part.type === 'file') {
        const content = await part.toBuffer();
        if (part.file.truncated)
          throw badRequest(`the part ${part.fieldname} exceeds ${MULTIPART_FIELD_LIMIT} bytes`);
        parts[part.fieldname] = content.toString('utf8');
      } else {
        parts[part.fieldname] = String(part.value);
      }
    }
  } catch (error) {
    // The parser's own complaints (no boundary, truncated body, malformed part headers) are the
    // client's fault; limits keep their 413.
    if (error instanceof ApiError || (error as { statusCode?: number }).statusCode) throw error;
    throw badRequest(`malformed multipart body: ${(error as Error).message}`);
  }
  return parts;
}
