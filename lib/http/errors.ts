import { STATUS_CODES } from 'node:http';
import { DatabaseUnavailable, UnstorableText } from '../storage/errors.ts';

/**
 * Protocol errors as classes, rendered in one place (`renderError`). OAuth/DCR endpoints answer
 * `{"error","error_description"}`; WSO2 REST surfaces answer `{"code","message","description"}`.
 */

export class OAuthError extends Error {
  readonly status: number;
  readonly error: string;
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.name = new.target.name;
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
  get body() {
    return { error: this.error, error_description: this.message };
  }
}

/** An OAuth error class that differs from the others only by its status and `error` code. */
function oauthError(name: string, status: number, error: string, defaultDescription?: string) {
  const errorClass = class extends OAuthError {
    constructor(description = defaultDescription ?? error) {
      super(status, error, description);
    }
  };
  Object.defineProperty(errorClass, 'name', { value: name });
  return errorClass;
}

// The table: one row per error that carries nothing but a description.
export const InvalidRequest = oauthError('InvalidRequest', 400, 'invalid_request');
export const InvalidClientMetadata = oauthError('InvalidClientMetadata', 400, 'invalid_client_metadata');
export const InvalidRedirectUri = oauthError('InvalidRedirectUri', 400, 'invalid_redirect_uri');
export const InvalidSoftwareStatement = oauthError(
  'InvalidSoftwareStatement',
  400,
  'invalid_software_statement',
);
export const InvalidClient = oauthError('InvalidClient', 401, 'invalid_client');
export const AccessDenied = oauthError('AccessDenied', 403, 'access_denied');
export const NotFound = oauthError('NotFound', 404, 'not_found', 'no such resource');
export const GatewayTimeout = oauthError('GatewayTimeout', 504, 'gateway_timeout');

export class InvalidToken extends OAuthError {
  constructor(description: string) {
    super(401, 'invalid_token', description, {
      'www-authenticate': `Bearer error="invalid_token", error_description="${description.replaceAll('"', "'")}"`,
    });
  }
}

export class InsufficientScope extends OAuthError {
  constructor(scope: string) {
    super(403, 'insufficient_scope', `the access token lacks the scope ${scope}`, {
      'www-authenticate': `Bearer error="insufficient_scope", scope="${scope}"`,
    });
  }
}

export class MethodNotAllowed extends OAuthError {
  constructor(allowed: string[]) {
    super(405, 'method_not_allowed', `allowed methods: ${allowed.join(', ')}`, { allow: allowed.join(', ') });
  }
}

export class PayloadTooLarge extends OAuthError {
  constructor(limit: number) {
    super(413, 'invalid_request', `the request body exceeds ${limit} bytes`);
  }
}

export class UnsupportedMediaType extends OAuthError {
  constructor(expected: string) {
    super(415, 'invalid_request', `Content-Type must be ${expected}`);
  }
}

/**
 * A request limit (plan, abuse limit, admin lockout) refused the request: 429 with `Retry-After`, in the
 * shape of the surface that refused it (rendered by `renderError` like `DatabaseUnavailable`).
 */
export class TooManyRequests extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, description = 'request limit exceeded') {
    super(description);
    this.name = 'TooManyRequests';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class TemporarilyUnavailable extends OAuthError {
  constructor(description: string, retryAfterSeconds = 30) {
    super(503, 'temporarily_unavailable', description, { 'retry-after': String(retryAfterSeconds) });
  }
}

export class BadGateway extends OAuthError {
  /** `retryAfterSeconds` when the backend is only unreachable for now (refused, reset): clients retry. */
  constructor(description: string, retryAfterSeconds?: number) {
    super(
      502,
      'bad_gateway',
      description,
      retryAfterSeconds ? { 'retry-after': String(retryAfterSeconds) } : {},
    );
  }
}

/** WSO2 REST (publisher/admin/devportal) error: `{"code","message","description"}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly description: string;
  constructor(status: number, message: string, description: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.description = description;
  }
  get body() {
    return { code: this.status, message: this.message, description: this.description };
  }
}

/**
 * CDR Register error (the sandbox Register): `{"errors":[{"code","title","detail"}]}` with the CDS
 * error URNs the ACCC mock Register answers with.
 */
export class CdsError extends Error {
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
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.title = title;
    this.headers = headers;
  }
  get body() {
    return { errors: [{ code: this.code, title: this.title, detail: this.message }] };
  }
}

/** `group`: the standard's error group (`cds-all`, or an industry's such as `cds-banking`). */
function cdsError(name: string, status: number, code: string, title: string, group = 'cds-all') {
  const errorClass = class extends CdsError {
    constructor(detail: string, headers: Record<string, string> = {}) {
      super(status, `urn:au-cds:error:${group}:${code}`, title, detail, headers);
    }
  };
  Object.defineProperty(errorClass, 'name', { value: name });
  return errorClass;
}

export const InvalidField = cdsError('InvalidField', 400, 'Field/Invalid', 'Invalid Field');
export const Unauthorized = cdsError('Unauthorized', 401, 'Authorisation/Unauthorized', 'Unauthorized');
/** The data recipient, its brand or the software product is not ACTIVE in the Register. */
export const AdrStatusNotActive = cdsError(
  'AdrStatusNotActive',
  403,
  'Authorisation/AdrStatusNotActive',
  'ADR Status Is Not Active',
);
export const ResourceNotFound = cdsError('ResourceNotFound', 404, 'Resource/NotFound', 'Resource Not Found');
export const MissingHeader = cdsError('MissingHeader', 400, 'Header/Missing', 'Missing Required Header');
export const InvalidHeader = cdsError('InvalidHeader', 400, 'Header/Invalid', 'Invalid Header');
export const InvalidVersion = cdsError('InvalidVersion', 400, 'Header/InvalidVersion', 'Invalid Version');
export const UnsupportedVersion = cdsError(
  'UnsupportedVersion',
  406,
  'Header/UnsupportedVersion',
  'Unsupported Version',
);
export const InvalidPageSize = cdsError('InvalidPageSize', 400, 'Field/InvalidPageSize', 'Invalid Page Size');
export const InvalidPage = cdsError('InvalidPage', 422, 'Field/InvalidPage', 'Invalid Page');
export const InvalidArrangement = cdsError(
  'InvalidArrangement',
  422,
  'Authorisation/InvalidArrangement',
  'Invalid Consent Arrangement',
);
export const InvalidBankingAccount = cdsError(
  'InvalidBankingAccount',
  404,
  'Authorisation/InvalidBankingAccount',
  'Invalid Banking Account',
  'cds-banking',
);
export const ServiceUnavailable = cdsError(
  'ServiceUnavailable',
  503,
  'Service/Unavailable',
  'Service Unavailable',
);

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** OAuth/DCR `{error, error_description}`, WSO2 REST `{code, message, description}`, CDR Register `{errors: […]}`. */
export type ErrorShape = 'oauth' | 'wso2' | 'cds';

/** OAuth `error` codes for statuses that have no more specific one. */
const OAUTH_CODES: Record<number, string> = {
  404: 'not_found',
  405: 'method_not_allowed',
  429: 'too_many_requests',
  500: 'server_error',
  502: 'bad_gateway',
  503: 'temporarily_unavailable',
  504: 'gateway_timeout',
};

/** CDS error codes (Consumer Data Standards) for statuses that have one of their own. */
const CDS_CODES: Record<number, string> = {
  401: 'urn:au-cds:error:cds-all:Authorisation/Unauthorized',
  404: 'urn:au-cds:error:cds-all:Resource/NotFound',
  503: 'urn:au-cds:error:cds-all:Service/Unavailable',
};

/** A surface's error body for a status, in one of the three shapes. */
export function errorBody(shape: ErrorShape, status: number, description: string): Record<string, unknown> {
  if (shape === 'wso2') return { code: status, message: STATUS_CODES[status] ?? 'Error', description };
  if (shape === 'cds') {
    const code =
      CDS_CODES[status] ??
      `urn:au-cds:error:cds-all:GeneralError/${status < 500 ? 'Expected' : 'Unexpected'}`;
    return { errors: [{ code, title: STATUS_CODES[status] ?? 'Error', detail: description }] };
  }
  return {
    error: OAUTH_CODES[status] ?? (status < 500 ? 'invalid_request' : 'server_error'),
    error_description: description,
  };
}

/**
 * The one place errors become responses. Unknown errors are 500 without internals; framework errors
 * (body too large, bad JSON, unsupported media type, schema validation) keep their 4xx status; an
 * unreachable database is 503 with Retry-After, so clients retry instead of giving up.
 */
export function renderError(error: unknown, shape: ErrorShape = 'oauth'): RenderedError {
  if (error instanceof OAuthError) return { status: error.status, headers: error.headers, body: error.body };
  if (error instanceof ApiError) return { status: error.status, headers: {}, body: error.body };
  if (error instanceof CdsError) return { status: error.status, headers: error.headers, body: error.body };
  if (error instanceof TooManyRequests) {
    return {
      status: 429,
      headers: { 'retry-after': String(error.retryAfterSeconds) },
      body: errorBody(shape, 429, error.message),
    };
  }
  if (error instanceof DatabaseUnavailable) {
    return {
      status: 503,
      headers: { 'retry-after': String(error.retryAfterSeconds) },
      body: errorBody(shape, 503, error.message),
    };
  }
  if (error instanceof UnstorableText)
    return { status: 400, headers: {}, body: errorBody(shape, 400, error.message) };
  const framework = error as { statusCode?: number; message?: string };
  const status =
    framework.statusCode && framework.statusCode >= 400 && framework.statusCode < 500
      ? framework.statusCode
      : 500;
  const description = status === 500 ? 'internal error' : (framework.message ?? 'bad request');
  return { status, headers: {}, body: errorBody(shape, status, description) };
}

/**
 * Logs an error a client was answered with a 5xx: a fault with its stack, an unreachable database as one
 * warning line (it says nothing about the code, and repeats for every request until the database is back).
 */
export function logServerError(
  logger: { warn(object: object, message: string): void; error(object: object, message: string): void },
  error: unknown,
  status: number,
): void {
  if (status < 500) return;
  if (error instanceof DatabaseUnavailable) {
    logger.warn({ cause: (error.cause as Error | undefined)?.message }, 'database unavailable');
  } else {
    logger.error({ err: error }, 'request failed');
  }
}
