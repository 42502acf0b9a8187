import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import { parse as parseYaml } from 'yaml';

/**
 * The WSO2 management contract (apis/wso2-management/openapi.yaml) as a validator of recorded HTTP
 * exchanges: which operation a request is, whether WSO2 would accept the request (parameters, body,
 * multipart fields and the JSON documents carried inside them) and whether an answer has the shape the
 * contract records. Every violation names the operation and the field.
 */

export const CONTRACT_FILE = new URL('../../apis/wso2-management/openapi.yaml', import.meta.url).pathname;

/** One request and its answer, as a proxy or an HTTP client layer saw them. */
export interface Exchange {
  method: string;
  /** Path and query, e.g. `/api/am/publisher/v4/apis?query=name%3A%22X%22`. */
  url: string;
  requestHeaders: Record<string, string>;
  requestBody: Buffer;
  status: number;
  responseHeaders: Record<string, string>;
  responseBody: Buffer;
}

export interface Violation {
  operation: string;
  side: 'request' | 'response';
  /** Where in the message: `body.name`, `query.action`, `header.authorization`, `form.additionalProperties.context`… */
  field: string;
  message: string;
}

type Schema = Record<string, unknown>;

export class Wso2Contract {
  readonly #api: OpenAPIBackend;
  readonly #ajv: Ajv;
  readonly #embedded = new WeakMap<Schema, ValidateFunction>();

  private constructor(api: OpenAPIBackend) {
    this.#api = api;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  }

  static async load(file = CONTRACT_FILE): Promise<Wso2Contract> {
    const definition = parseYaml(await readFile(file, 'utf8')) as Schema;
    const api = new OpenAPIBackend({
      definition: definition as never,
      strict: true,
      quick: false,
      ajvOpts: { strict: false, allErrors: true, validateFormats: false },
    });
    await api.init();
    return new Wso2Contract(api);
  }

  /** Every operation of the contract: `operationId`, method, path. */
  operations(): { operationId: string; method: string; path: string }[] {
    return this.#api.definition.paths
      ? this.#api.router
          .getOperations()
          .map((op) => ({ operationId: op.operationId!, method: op.method.toUpperCase(), path: op.path }))
      : [];
  }

  match(method: string, url: string): Operation | undefined {
    const { pathname } = new URL(url, 'https://contract.invalid');
    return this.#api.router.matchOperation({ method, path: pathname, headers: {} }) || undefined;
  }

  /** The request's violations; an operation the contract lacks is itself one. */
  async validateRequest(exchange: Exchange): Promise<Violation[]> {
    const operation = this.match(exchange.method, exchange.url);
    const { pathname, searchParams } = new URL(exchange.url, 'https://contract.invalid');
    if (!operation) {
      return [
        {
          operation: `${exchange.method} ${pathname}`,
          side: 'request',
          field: 'path',
          message: 'not an operation of the WSO2 contract',
        },
      ];
    }
    const name = operation.operationId!;
    let body: unknown;
    try {
      body = await parseRequestBody(exchange);
    } catch (error) {
      return [{ operation: name, side: 'request', field: 'body', message: (error as Error).message }];
    }
    const mediaTypes = Object.keys(
      (operation.requestBody as { content?: Schema } | undefined)?.content ?? {},
    );
    const sent = mediaType(exchange.requestHeaders['content-type']);
    if (mediaTypes.length && body !== undefined && !mediaTypes.includes(sent)) {
      return [
        {
          operation: name,
          side: 'request',
          field: 'header.content-type',
          message: `${sent || '(none)'} is not one of ${mediaTypes.join(', ')}`,
        },
      ];
    }
    const result = this.#api.validateRequest(
      {
        method: exchange.method,
        path: pathname,
        headers: exchange.requestHeaders,
        query: Object.fromEntries(searchParams),
        ...(body === undefined ? {} : { body: body as never }),
      },
      operation,
    );
    const violations = (result.errors ?? []).map((error) => fromAjv(name, 'request', error));
    if (sent === 'multipart/form-data' && body)
      violations.push(...this.#formViolations(operation, body as Schema));
    return violations;
  }

  /** The answer's violations: a status the operation does not document, or a body of another shape. */
  validateResponse(exchange: Exchange): Violation[] {
    const operation = this.match(exchange.method, exchange.url);
    if (!operation) return [];
    const name = operation.operationId!;
    const documented = Object.keys(operation.responses ?? {});
    if (!documented.includes(String(exchange.status))) {
      return [
        {
          operation: name,
          side: 'response',
          field: 'status',
          message: `HTTP ${exchange.status} is not one of ${documented.join(', ')}`,
        },
      ];
    }
    const text = exchange.responseBody.toString('utf8');
    if (!text) return [];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [{ operation: name, side: 'response', field: 'body', message: 'is not JSON' }];
    }
    const result = this.#api.validateResponse(body, operation, exchange.status);
    return (result.errors ?? []).map((error) => fromAjv(name, 'response', error));
  }

  /** `x-obkit-json` fields carry a JSON document with a schema of its own; `x-obkit-one-of-fields`. */
  #formViolations(operation: Operation, form: Schema): Violation[] {
    const name = operation.operationId!;
    const schema = (operation.requestBody as { content: Record<string, { schema: Schema }> }).content[
      'multipart/form-data'
    ]!.schema;
    const violations: Violation[] = [];
    const oneOf = schema['x-obkit-one-of-fields'] as string[] | undefined;
    if (oneOf && !oneOf.some((field) => form[field] !== undefined)) {
      violations.push({
        operation: name,
        side: 'request',
        field: 'form',
        message: `needs one of ${oneOf.join(', ')}`,
      });
    }
    for (const [field, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
      // openapi-backend hands operations over dereferenced: the embedded schema is inline.
      const embedded = property['x-obkit-json'] as Schema | undefined;
      if (!embedded || typeof form[field] !== 'string') continue;
      let document: unknown;
      try {
        document = parseYaml(form[field] as string);
      } catch (error) {
        violations.push({
          operation: name,
          side: 'request',
          field: `form.${field}`,
          message: `is not JSON: ${(error as Error).message}`,
        });
        continue;
      }
      const validate = this.#compile(embedded);
      if (!validate(document)) {
        for (const error of validate.errors ?? [])
          violations.push(fromAjv(name, 'request', error, `form.${field}`));
      }
    }
    return violations;
  }

  #compile(schema: Schema): ValidateFunction {
    const known = this.#embedded.get(schema);
    if (known) return known;
    const validate = this.#ajv.compile(schema);
    this.#embedded.set(schema, validate);
    return validate;
  }
}

/** Violations as lines: `deployAPIRevision request body.0.vhost: must match pattern …`. */
export function describeViolations(violations: Violation[]): string {
  return violations.map((v) => `${v.operation} ${v.side} ${v.field}: ${v.message}`).join('\n');
}

async function parseRequestBody(exchange: Exchange): Promise<unknown> {
  if (!exchange.requestBody.length) return undefined;
  const type = exchange.requestHeaders['content-type'] ?? '';
  const text = exchange.requestBody.toString('utf8');
  switch (mediaType(type)) {
    case 'application/json':
      return JSON.parse(text);
    case 'application/x-www-form-urlencoded':
      return Object.fromEntries(new URLSearchParams(text));
    case 'multipart/form-data': {
      // Node's own multipart parser (undici), as a server would read the form.
      const form = await new Response(new Uint8Array(exchange.requestBody), {
        headers: { 'content-type': type },
      }).formData();
      const fields: Record<string, string> = {};
      for (const [name, value] of form) fields[name] = typeof value === 'string' ? value : await value.text();
      return fields;
    }
    default:
      return text;
  }
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** An ajv error as a violation whose field is a dotted path (`body.operations.0.verb`). */
function fromAjv(operation: string, side: Violation['side'], error: ErrorObject, prefix?: string): Violation {
  const segments = error.instancePath.split('/').filter(Boolean);
  if (prefix) segments.unshift(prefix);
  else if (side === 'response') segments.unshift('body');
  else {
    // Request errors are rooted at openapi-backend's parts: requestBody, query, headers, path.
    const [root, ...rest] = segments;
    const area = root === 'requestBody' ? 'body' : root === 'headers' ? 'header' : (root ?? 'body');
    segments.splice(0, segments.length, area, ...rest);
  }
  const missing = (error.params as { missingProperty?: string }).missingProperty;
  if (missing) segments.push(missing);
  const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues;
  return {
    operation,
    side,
    field: segments.join('.') || 'body',
    message: `${error.message ?? 'is invalid'}${allowed ? ` (${allowed.join(', ')})` : ''}`,
  };
}
