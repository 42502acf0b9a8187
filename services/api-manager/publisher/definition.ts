import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UNLIMITED } from '../admin/throttling-policies.ts';
import { badRequest, invalidField } from '../request.ts';

/**
 * Reads a Swagger 2.0 or OpenAPI 3 definition the way WSO2's publisher imports it: one operation per
 * path and method, `x-auth-type` (None = unsecured), scopes from the operation's security requirements
 * (or `x-scope`), and `x-throttling-tier`. Only the parts read are validated; an invalid one is a 400
 * naming the field.
 */

export type OperationAuthType =
  | 'None'
  | 'Application'
  | 'Application User'
  | 'Application & Application User';

export interface ImportedOperation {
  target: string;
  verb: string;
  authType: OperationAuthType;
  scopes: string[];
  throttlingPolicy: string;
}

export interface ImportedDefinition {
  format: 'swagger2' | 'openapi3';
  title: string;
  version: string;
  /** Swagger 2.0 `basePath` or the path of OpenAPI 3's first server URL, when present. */
  basePath: string | undefined;
  operations: ImportedOperation[];
  scopes: { name: string; description: string; bindings: string[] }[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const securityRequirements = z.array(z.record(z.string(), z.array(z.string())));

const operationSchema = z.looseObject({
  security: securityRequirements.optional(),
  'x-auth-type': z.string().optional(),
  'x-throttling-tier': z.string().optional(),
  'x-scope': z.string().optional(),
});

const pathItemSchema = z.looseObject(
  Object.fromEntries(METHODS.map((method) => [method, operationSchema.optional()])),
);

const pathsSchema = z.record(z.string().regex(/^\//, 'paths must start with /'), pathItemSchema);

const scopesMap = z.record(z.string(), z.string()).optional();
const bindingsMap = z.record(z.string(), z.string()).optional();

const infoSchema = z.looseObject({ title: z.string().min(1), version: z.string().min(1) });

const swagger2Schema = z.looseObject({
  swagger: z.literal('2.0'),
  info: infoSchema,
  basePath: z.string().optional(),
  security: securityRequirements.optional(),
  paths: pathsSchema,
  securityDefinitions: z
    .record(
      z.string(),
      z.looseObject({ type: z.string(), scopes: scopesMap, 'x-scopes-bindings': bindingsMap }),
    )
    .optional(),
});

const openapi3Schema = z.looseObject({
  openapi: z.string().regex(/^3\.\d+\.\d+$/, 'must be 3.x.y'),
  info: infoSchema,
  servers: z.array(z.looseObject({ url: z.string() })).optional(),
  security: securityRequirements.optional(),
  paths: pathsSchema,
  components: z
    .looseObject({
      securitySchemes: z
        .record(
          z.string(),
          z.looseObject({
            type: z.string(),
            flows: z.record(z.string(), z.looseObject({ scopes: scopesMap })).optional(),
            'x-scopes-bindings': bindingsMap,
          }),
        )
        .optional(),
    })
    .optional(),
});

export function parseDefinitionText(text: string): unknown {
  try {
    // YAML is a superset of JSON: one parser for both.
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw badRequest(`the API definition is neither valid JSON nor YAML: ${(error as Error).message}`);
  }
}

export function importDefinition(document: unknown): ImportedDefinition {
  if (typeof document !== 'object' || document === null)
    throw badRequest('the API definition is not an object');
  const record = document as Record<string, unknown>;
  if ('swagger' in record) {
    const parsed = swagger2Schema.safeParse(document);
    if (!parsed.success) throw invalidField(parsed.error);
    const definition = parsed.data;
    const descriptions = new Map<string, { description: string; bindings: string[] }>();
    for (const scheme of Object.values(definition.securityDefinitions ?? {})) {
      collectScopes(descriptions, scheme.scopes, scheme['x-scopes-bindings']);
    }
    return build('swagger2', definition, definition.basePath, descriptions);
  }
  if ('openapi' in record) {
    const parsed = openapi3Schema.safeParse(document);
    if (!parsed.success) throw invalidField(parsed.error);
    const definition = parsed.data;
    const descriptions = new Map<string, { description: string; bindings: string[] }>();
    for (const scheme of Object.values(definition.components?.securitySchemes ?? {})) {
      for (const flow of Object.values(scheme.flows ?? {})) {
        collectScopes(descriptions, flow.scopes, scheme['x-scopes-bindings']);
      }
    }
    const server = definition.servers?.[0]?.url;
    const basePath = server ? new URL(server, 'https://placeholder').pathname : undefined;
    return build('openapi3', definition, basePath === '/' ? undefined : basePath, descriptions);
  }
  throw badRequest('invalid field swagger/openapi: the definition is neither Swagger 2.0 nor OpenAPI 3');
}

function collectScopes(
  into: Map<string, { description: string; bindings: string[] }>,
  scopes: Record<string, string> | undefined,
  bindings: Record<string, string> | undefined,
): void {
  for (const [name, description] of Object.entries(scopes ?? {})) {
    const bound =
      bindings?.[name]
        ?.split(',')
        .map((role) => role.trim())
        .filter(Boolean) ?? [];
    into.set(name, { description, bindings: bound });
  }
}

function build(
  format: ImportedDefinition['format'],
  definition: {
    info: { title: string; version: string };
    paths: Record<string, Record<string, unknown>>;
    security?: Record<string, string[]>[] | undefined;
  },
  basePath: string | undefined,
  descriptions: Map<string, { description: string; bindings: string[] }>,
): ImportedDefinition {
  const operations: ImportedOperation[] = [];
  for (const [target, item] of Object.entries(definition.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as z.infer<typeof operationSchema> | undefined;
      if (!operation) continue;
      const field = `paths.${target}.${method}`;
      const security = operation.security ?? definition.security ?? [];
      const scopes = new Set(security.flatMap((requirement) => Object.values(requirement).flat()));
      if (operation['x-scope']) scopes.add(operation['x-scope']);
      operations.push({
        target,
        verb: method.toUpperCase(),
        authType: normaliseAuthType(operation['x-auth-type'], `${field}.x-auth-type`),
        scopes: [...scopes],
        throttlingPolicy: checkOperationTier(
          operation['x-throttling-tier'] ?? UNLIMITED,
          `${field}.x-throttling-tier`,
        ),
      });
    }
  }
  if (operations.length === 0) throw badRequest('invalid field paths: the definition has no operations');
  const used = new Set(operations.flatMap((operation) => operation.scopes));
  return {
    format,
    title: definition.info.title,
    version: definition.info.version,
    basePath,
    operations,
    scopes: [...used].map((name) => ({
      name,
      description: descriptions.get(name)?.description ?? '',
      bindings: descriptions.get(name)?.bindings ?? [],
    })),
  };
}

const AUTH_TYPES: Record<string, OperationAuthType> = {
  none: 'None',
  application: 'Application',
  'application user': 'Application User',
  application_user: 'Application User',
  any: 'Application & Application User',
  'application & application user': 'Application & Application User',
};

/** WSO2's spellings of an operation's auth type; absent means "Application & Application User". */
export function normaliseAuthType(value: string | undefined, field: string): OperationAuthType {
  if (value === undefined) return 'Application & Application User';
  const authType = AUTH_TYPES[value.trim().toLowerCase()];
  if (!authType) {
    throw badRequest(
      `invalid field ${field}: ${value} is not one of None, Application, Application User, Application & Application User`,
    );
  }
  return authType;
}

/** Operation-level throttling: only Unlimited (no advanced policies are enforced by the gateway). */
export function checkOperationTier(value: string, field: string): string {
  if (value !== UNLIMITED) {
    throw badRequest(
      `invalid field ${field}: throttling policy ${value} is not supported (only ${UNLIMITED})`,
    );
  }
  return value;
}
