import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';

/**
 * JSON schemas for fastify route `params` and `querystring`, validated before a handler runs (and so
 * before any value reaches SQL): ids and query values are bounded text without control characters —
 * PostgreSQL cannot store NUL — and a repeated query parameter that must be single is a 400, not an array.
 * Routes registered on a `SchemaTypedApp` get `request.params`/`query`/`body` typed from these schemas.
 */

/** A fastify scope whose request types come from the route schemas (json-schema-to-ts). */
export type SchemaTypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  JsonSchemaToTsProvider
>;

/** `app` with request types inferred from route schemas. */
export function schemaTyped(app: FastifyInstance): SchemaTypedApp {
  return app.withTypeProvider<JsonSchemaToTsProvider>();
}

const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f]*$';

/** A short text value (a name, a search query, an enum value as text). */
export function text(maxLength = 256) {
  return { type: 'string', maxLength, pattern: NO_CONTROL_CHARACTERS } as const;
}

/** An identifier: non-empty, bounded, printable. */
export const identifier = { ...text(256), minLength: 1 } as const;

/** A non-negative integer query value (`limit`, `offset`, `wait`). */
export const count = { type: 'integer', minimum: 0 } as const;

/** `params` schema: every named path parameter is an identifier. */
export function idParams<const Names extends readonly string[]>(...names: Names) {
  // Object.fromEntries forgets the keys; the mapped type restores them for the request types.
  const properties = Object.fromEntries(names.map((name) => [name, identifier])) as {
    [Name in Names[number]]: typeof identifier;
  };
  return { type: 'object', required: names, properties } as const;
}

/** `querystring` schema: the named parameters (none required), others ignored. */
export function queryOf<const Properties extends Record<string, object>>(properties: Properties) {
  return { type: 'object', properties } as const;
}
