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

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super(400, 'invalid_request', description);
  }
}

export class InvalidClientMetadata extends OAuthError {
  constructor(description: string) {
    super(400, 'invalid_client_metadata', description);
  }
}

export class InvalidRedirectUri extends OAuthError {
  constructor(description: string) {
    super(400, 'invalid_redirect_uri', description);
  }
}

export class InvalidSoftwareStatement extends OAuthError {
  constructor(description: string) {
    super(400, 'invalid_software_statement', description);
  }
}

export class InvalidClient extends OAuthError {
  constructor(description: string) {
    super(401, 'invalid_client', description);
  }
}

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

export class AccessDenied extends OAuthError {
  constructor(description: string) {
    super(403, 'access_denied', description);
  }
}

export class NotFound extends OAuthError {
  constructor(description = 'no such resource') {
    super(404, 'not_found', description);
  }
}

export class MethodNotAllowed extends OAuthError {
  constructor(allowed: string[]) {
    super(405, 'method_not_allowed', `allowed methods: ${allowed.join(', ')}`, { allow: allowed.join(', ') });
  }
}

export class UnsupportedMediaType extends OAuthError {
  constructor(expected: string) {
    super(415, 'invalid_request', `Content-Type must be ${expected}`);
  }
}

export class TooManyRequests extends OAuthError {
  constructor(retryAfterSeconds: number) {
    super(429, 'too_many_requests', 'request limit exceeded', { 'retry-after': String(retryAfterSeconds) });
  }
}

export class TemporarilyUnavailable extends OAuthError {
  constructor(description: string, retryAfterSeconds = 30) {
    super(503, 'temporarily_unavailable', description, { 'retry-after': String(retryAfterSeconds) });
  }
}

export class BadGateway extends OAuthError {
  constructor(description: string) {
    super(502, 'bad_gateway', description);
  }
}

export class GatewayTimeout extends OAuthError {
  constructor(description: string) {
    super(504, 'gateway_timeout', description);
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

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * The one place errors become responses. Unknown errors are 500 without internals; framework errors
 * (body too large, bad JSON, unsupported media type) keep their status in the surface's error shape.
 */
export function renderError(error: unknown, shape: 'oauth' | 'wso2' = 'oauth'): RenderedError {
  if (error instanceof OAuthError) return { status: error.status, headers: error.headers, body: error.body };
  if (error instanceof ApiError) return { status: error.status, headers: {}, body: error.body };
  const framework = error as { statusCode?: number; message?: string; validation?: unknown };
  const status =
    framework.statusCode && framework.statusCode >= 400 && framework.statusCode < 500
      ? framework.statusCode
      : 500;
  const description = status === 500 ? 'internal error' : (framework.message ?? 'bad request');
  if (shape === 'wso2') {
    return {
      status,
      headers: {},
      body: { code: status, message: status === 500 ? 'Internal Server Error' : 'Bad Request', description },
    };
  }
  return {
    status,
    headers: {},
    body: { error: status === 500 ? 'server_error' : 'invalid_request', error_description: description },
  };
}
