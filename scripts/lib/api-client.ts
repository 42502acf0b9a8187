import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponseHeaders, type RawAxiosResponseHeaders } from 'axios';
import { ADMIN_API, MANAGEMENT_SCOPES, PUBLISHER_API } from '../../lib/wso2/management-api.ts';

/**
 * The one HTTP client the scripts use, for every target (local processes, Kubernetes, real WSO2): axios
 * over an https.Agent carrying the CA to trust and, where the call needs mutual TLS, a client certificate.
 * Connection errors and 5xx answers are retried with exponential backoff; a final failure is an
 * `ApiCallError` naming the method, URL and status with the API's own error text. Nothing here logs or
 * embeds a request's headers or body, so a credential can never reach a message.
 */

export interface TlsMaterial {
  /** PEM CA certificates to trust for the server (the system roots when absent). */
  ca?: string | undefined;
  /** PEM client certificate chain and key for mutual TLS. */
  cert?: string | undefined;
  key?: string | undefined;
}

export interface HttpClientOptions {
  baseUrl: string;
  tls?: TlsMaterial;
  /** Host header to send instead of the URL's (a vhost reached through another name). */
  host?: string;
  /** Per-attempt time-out; default 15 s. */
  timeoutMs?: number;
  /** Attempts after the first one on connection errors and 5xx; default 4. */
  retries?: number;
  /** First back-off delay, doubled each attempt; default 250 ms. */
  backoffMs?: number;
  /** Called before each retry (progress output); never receives headers or bodies. */
  onRetry?: (retry: {
    method: string;
    url: string;
    attempt: number;
    delayMs: number;
    reason: string;
  }) => void;
  /** An axios instance to use instead of a new one (tests). */
  axios?: AxiosInstance;
}

export interface RequestOptions {
  data?: unknown;
  headers?: Record<string, string>;
  params?: Record<string, string | number | boolean>;
  /** Statuses that are answers rather than failures; default every 2xx. */
  expect?: readonly number[];
  /** Retry on connection errors and 5xx; default true. */
  retry?: boolean;
  /**
   * Whether repeating the call is harmless. Default: by method (GET, HEAD, PUT, DELETE and OPTIONS are;
   * POST and PATCH are not). A call that may have taken effect (a 5xx, a connection lost mid-request) is
   * retried only when idempotent: against a real WSO2 a repeated POST can create a second API, revision
   * or key manager. A call the server never received (refused, unresolvable, unreachable) is always retried.
   */
  idempotent?: boolean;
  responseType?: 'json' | 'text';
}

export interface HttpResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string>;
}

/** A failed call: the URL, the status (absent when no answer came) and the API's error text. */
export class ApiCallError extends Error {
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly body: unknown;
  constructor(method: string, url: string, status: number | undefined, detail: string, body?: unknown) {
    super(`${method} ${url} ${status === undefined ? 'failed' : `→ HTTP ${status}`}: ${detail}`);
    this.name = 'ApiCallError';
    this.method = method;
    this.url = url;
    this.status = status;
    this.body = body;
  }
}

/** Failures before the request reached the server: retrying cannot repeat an effect. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

const RETRIED_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

export class HttpClient {
  readonly baseUrl: string;
  readonly #axios: AxiosInstance;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #onRetry: HttpClientOptions['onRetry'];

  constructor(options: HttpClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#retries = options.retries ?? 4;
    this.#backoffMs = options.backoffMs ?? 250;
    this.#onRetry = options.onRetry;
    this.#axios =
      options.axios ??
      axios.create({
        timeout: options.timeoutMs ?? 15_000,
        httpsAgent: new https.Agent({
          keepAlive: true,
          ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
          ...(options.tls?.cert ? { cert: options.tls.cert, key: options.tls.key } : {}),
        }),
        // Statuses are judged by `request`, which knows what each call expects.
        validateStatus: () => true,
        maxRedirects: 0,
        proxy: false,
        ...(options.host ? { headers: { Host: options.host } } : {}),
      });
  }

  /** A client for another origin or certificate with this one's retry policy. */
  with(options: Partial<HttpClientOptions>): HttpClient {
    return new HttpClient({
      baseUrl: this.baseUrl,
      retries: this.#retries,
      backoffMs: this.#backoffMs,
      ...(this.#onRetry ? { onRetry: this.#onRetry } : {}),
      ...options,
    });
  }

  async request<T = unknown>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const url = /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
    const retries = options.retry === false ? 0 : this.#retries;
    const idempotent = options.idempotent ?? IDEMPOTENT_METHODS.has(method.toUpperCase());
    const shown = displayUrl(url, options.params);
    for (let attempt = 0; ; attempt++) {
      let reason: string;
      let neverSent = false;
      let status: number | undefined;
      let body: unknown;
      try {
        const response = await this.#axios.request({
          method,
          url,
          data: options.data,
          headers: options.headers,
          params: options.params,
          responseType: options.responseType === 'text' ? 'text' : 'json',
          // Keep raw text for non-JSON answers (an HTML error page, a JWT) instead of failing to parse.
          transitional: { silentJSONParsing: true, forcedJSONParsing: options.responseType !== 'text' },
        });
        status = response.status;
        body = response.data;
        const expected = options.expect ?? [];
        if (expected.includes(status) || (expected.length === 0 && status >= 200 && status < 300)) {
          return { status, data: response.data as T, headers: flattenHeaders(response.headers) };
        }
        reason = errorText(body);
        if (status < 500) throw new ApiCallError(method, shown, status, reason, body);
      } catch (error) {
        if (error instanceof ApiCallError) throw error;
        const failure = error as { code?: string; message?: string };
        reason = failure.code
          ? `${failure.code} ${failure.message ?? ''}`.trim()
          : (failure.message ?? String(error));
        // TLS verification and protocol errors will not heal by retrying.
        if (!failure.code || !RETRIED_CODES.has(failure.code)) {
          throw new ApiCallError(method, shown, undefined, reason);
        }
        neverSent = NEVER_SENT_CODES.has(failure.code);
      }
      if (attempt >= retries || (!idempotent && !neverSent)) {
        const tries = attempt + 1;
        throw new ApiCallError(
          method,
          shown,
          status,
          `${reason}${tries > 1 ? ` (gave up after ${tries} attempts)` : ''}`,
          body,
        );
      }
      const delayMs = this.#backoffMs * 2 ** attempt;
      this.#onRetry?.({ method, url: shown, attempt: attempt + 1, delayMs, reason });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  return new HttpClient(options);
}

/** The API's own error text: WSO2 `message: description`, OAuth `error: error_description`, or the body. */
export function errorText(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.error === 'string') {
      return b.error_description ? `${b.error}: ${String(b.error_description)}` : b.error;
    }
    if (typeof b.message === 'string') {
      return b.description && b.description !== b.message
        ? `${b.message}: ${String(b.description)}`
        : b.message;
    }
    return JSON.stringify(body).slice(0, 500);
  }
  const text = typeof body === 'string' ? body.trim() : '';
  return text ? text.slice(0, 500) : '(empty body)';
}

function displayUrl(url: string, params: RequestOptions['params']): string {
  if (!params || Object.keys(params).length === 0) return url;
  const query = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return `${url}?${query}`;
}

function flattenHeaders(headers: RawAxiosResponseHeaders | AxiosResponseHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && value !== null)
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------------
// Management authentication (WSO2 APIM: client-registration v0.17 + password grant)
// ---------------------------------------------------------------------------------------------------

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Obtains and caches a management access token (every management scope unless told otherwise); every
 * management call goes through `call`.
 */
export class ManagementSession {
  readonly http: HttpClient;
  readonly #admin: Credentials;
  readonly #clientName: string;
  readonly #scopes: readonly string[];
  #token: Promise<string> | undefined;

  constructor(
    http: HttpClient,
    admin: Credentials,
    clientName = 'obkit-scripts',
    scopes: readonly string[] = MANAGEMENT_SCOPES,
  ) {
    this.http = http;
    this.#admin = admin;
    this.#clientName = clientName;
    this.#scopes = scopes;
  }

  async #obtainToken(): Promise<string> {
    const client = await this.http.request<{ clientId: string; clientSecret: string }>(
      'POST',
      '/client-registration/v0.17/register',
      {
        headers: { authorization: basic(this.#admin.username, this.#admin.password) },
        data: {
          callbackUrl: 'https://localhost/obkit',
          clientName: this.#clientName,
          owner: this.#admin.username,
          grantType: 'client_credentials password refresh_token',
          saasApp: true,
        },
      },
    );
    const token = await this.http.request<{ access_token: string }>('POST', '/oauth2/token', {
      headers: {
        authorization: basic(client.data.clientId, client.data.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      data: new URLSearchParams({
        grant_type: 'password',
        username: this.#admin.username,
        password: this.#admin.password,
        scope: this.#scopes.join(' '),
      }).toString(),
      // Another token is all a repeat makes.
      idempotent: true,
    });
    return token.data.access_token;
  }

  token(): Promise<string> {
    this.#token ??= this.#obtainToken().catch((error) => {
      this.#token = undefined;
      throw error;
    });
    return this.#token;
  }

  /** A bearer-authenticated call; an expired token (401) is replaced once. */
  async call<T = unknown>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const send = async () =>
      this.http.request<T>(method, path, {
        ...options,
        expect: [...(options.expect ?? [200, 201, 202, 204]), 401],
        headers: { ...options.headers, authorization: `Bearer ${await this.token()}` },
      });
    let response = await send();
    if (response.status === 401 && !options.expect?.includes(401)) {
      this.#token = undefined;
      response = await send();
      if (response.status === 401) {
        throw new ApiCallError(
          method,
          `${this.http.baseUrl}${path}`,
          401,
          errorText(response.data),
          response.data,
        );
      }
    }
    return response;
  }
}

// ---------------------------------------------------------------------------------------------------
// Publisher v4
// ---------------------------------------------------------------------------------------------------

export interface ApiOperation {
  id?: string;
  target: string;
  verb: string;
  authType?: string;
  throttlingPolicy?: string;
  scopes?: string[];
  operationPolicies?: {
    request?: OperationPolicyRef[];
    response?: OperationPolicyRef[];
    fault?: OperationPolicyRef[];
  };
  [field: string]: unknown;
}

export interface OperationPolicyRef {
  policyName: string;
  policyId?: string;
  policyVersion: string;
  parameters: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ApiDto {
  id: string;
  name: string;
  version: string;
  context: string;
  lifeCycleStatus?: string;
  policies?: string[];
  apiThrottlingPolicy?: string;
  endpointConfig?: Record<string, unknown>;
  operations?: ApiOperation[];
  [field: string]: unknown;
}

export interface RevisionDto {
  id: string;
  displayName?: string;
  description?: string;
  createdTime?: string | number;
  deploymentInfo?: { name: string; vhost?: string; status?: string; displayOnDevportal?: boolean }[];
  [field: string]: unknown;
}

export interface OperationPolicyDto {
  id: string;
  name: string;
  version?: string;
  [field: string]: unknown;
}

type List<T> = { count: number; list: T[] };

export class PublisherApi {
  readonly #session: ManagementSession;
  static readonly base = PUBLISHER_API;

  constructor(session: ManagementSession) {
    this.#session = session;
  }

  #call<T>(method: string, path: string, options?: RequestOptions) {
    return this.#session.call<T>(method, `${PublisherApi.base}${path}`, options);
  }

  async findApi(name: string, version: string): Promise<ApiDto | undefined> {
    const found = await this.#call<List<ApiDto>>('GET', '/apis', { params: { query: `name:"${name}"` } });
    const summary = found.data.list.find((api) => api.name === name && api.version === version);
    return summary ? this.getApi(summary.id) : undefined;
  }

  async getApi(id: string): Promise<ApiDto> {
    return (await this.#call<ApiDto>('GET', `/apis/${encodeURIComponent(id)}`)).data;
  }

  async importOpenApi(
    definition: { fileName: string; content: string },
    properties: Record<string, unknown>,
  ) {
    const form = new FormData();
    form.append('file', new Blob([definition.content], { type: 'application/yaml' }), definition.fileName);
    form.append('additionalProperties', JSON.stringify(properties));
    return (await this.#call<ApiDto>('POST', '/apis/import-openapi', { data: form, expect: [200, 201] }))
      .data;
  }

  async updateApi(api: ApiDto): Promise<ApiDto> {
    return (await this.#call<ApiDto>('PUT', `/apis/${encodeURIComponent(api.id)}`, { data: api })).data;
  }

  async listOperationPolicies(apiId: string): Promise<OperationPolicyDto[]> {
    const found = await this.#call<List<OperationPolicyDto>>(
      'GET',
      `/apis/${encodeURIComponent(apiId)}/operation-policies`,
      { params: { limit: 100 } },
    );
    return found.data.list;
  }

  async addOperationPolicy(apiId: string, spec: Record<string, unknown>, synapseXml: string) {
    const form = new FormData();
    form.append(
      'policySpecFile',
      new Blob([JSON.stringify(spec)], { type: 'application/json' }),
      'policy.json',
    );
    form.append(
      'synapsePolicyDefinitionFile',
      new Blob([synapseXml], { type: 'application/xml' }),
      'policy.j2',
    );
    const created = await this.#call<OperationPolicyDto>(
      'POST',
      `/apis/${encodeURIComponent(apiId)}/operation-policies`,
      {
        data: form,
        expect: [200, 201],
      },
    );
    return created.data;
  }

  async listRevisions(apiId: string, deployedOnly = false): Promise<RevisionDto[]> {
    const found = await this.#call<List<RevisionDto>>('GET', `/apis/${encodeURIComponent(apiId)}/revisions`, {
      ...(deployedOnly ? { params: { query: 'deployed:true' } } : {}),
    });
    return found.data.list;
  }

  async createRevision(apiId: string, description: string): Promise<RevisionDto> {
    const created = await this.#call<RevisionDto>('POST', `/apis/${encodeURIComponent(apiId)}/revisions`, {
      data: { description },
      expect: [200, 201],
    });
    return created.data;
  }

  async deleteRevision(apiId: string, revisionId: string): Promise<void> {
    await this.#call(
      'DELETE',
      `/apis/${encodeURIComponent(apiId)}/revisions/${encodeURIComponent(revisionId)}`,
    );
  }

  async deployRevision(apiId: string, revisionId: string, gateway: string, vhost: string): Promise<void> {
    await this.#call('POST', `/apis/${encodeURIComponent(apiId)}/deploy-revision`, {
      params: { revisionId },
      data: [{ revisionUuid: revisionId, name: gateway, vhost, displayOnDevportal: true }],
      expect: [200, 201],
    });
  }

  async changeLifecycle(apiId: string, action: 'Publish' | 'Deprecate' | 'Retire'): Promise<void> {
    await this.#call('POST', '/apis/change-lifecycle', { params: { apiId, action } });
  }
}

// ---------------------------------------------------------------------------------------------------
// Admin v4
// ---------------------------------------------------------------------------------------------------

export interface KeyManagerDto {
  id?: string;
  name: string;
  type: string;
  enabled?: boolean;
  description?: string;
  additionalProperties?: Record<string, unknown>;
  [field: string]: unknown;
}

export class AdminApi {
  readonly #session: ManagementSession;
  static readonly base = ADMIN_API;

  constructor(session: ManagementSession) {
    this.#session = session;
  }

  #call<T>(method: string, path: string, options?: RequestOptions) {
    return this.#session.call<T>(method, `${AdminApi.base}${path}`, options);
  }

  async listKeyManagers(): Promise<KeyManagerDto[]> {
    return (await this.#call<List<KeyManagerDto>>('GET', '/key-managers')).data.list;
  }

  async getKeyManager(id: string): Promise<KeyManagerDto> {
    return (await this.#call<KeyManagerDto>('GET', `/key-managers/${encodeURIComponent(id)}`)).data;
  }

  async addKeyManager(keyManager: KeyManagerDto): Promise<KeyManagerDto> {
    return (
      await this.#call<KeyManagerDto>('POST', '/key-managers', { data: keyManager, expect: [200, 201] })
    ).data;
  }

  async updateKeyManager(id: string, keyManager: KeyManagerDto): Promise<KeyManagerDto> {
    return (
      await this.#call<KeyManagerDto>('PUT', `/key-managers/${encodeURIComponent(id)}`, { data: keyManager })
    ).data;
  }
}

// ---------------------------------------------------------------------------------------------------
// Identity server (OAuth) and the DCR API as a recipient calls it through the gateway
// ---------------------------------------------------------------------------------------------------

export interface ClientRegistration {
  client_id: string;
  software_statement?: string;
  redirect_uris?: string[];
  [claim: string]: unknown;
}

export class IdentityServerApi {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  async discovery(): Promise<
    Record<string, unknown> & { issuer: string; jwks_uri: string; token_endpoint: string }
  > {
    return (await this.http.request<never>('GET', '/oauth2/token/.well-known/openid-configuration')).data;
  }

  async jwks(uri = '/oauth2/jwks'): Promise<{ keys: Record<string, unknown>[] }> {
    return (await this.http.request<{ keys: Record<string, unknown>[] }>('GET', uri)).data;
  }

  /** A token request (form); `http` must carry the client certificate for a certificate-bound token. */
  async token(form: Record<string, string>, tokenEndpoint = '/oauth2/token') {
    const response = await this.http.request<{
      access_token: string;
      token_type: string;
      expires_in: number;
      scope?: string;
    }>('POST', tokenEndpoint, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      data: new URLSearchParams(form).toString(),
      retry: false,
    });
    return response.data;
  }
}

/** `/open-banking/0.2/register` on the gateway, over mutual TLS with the recipient's transport certificate. */
export class DcrApi {
  readonly http: HttpClient;
  readonly path: string;
  constructor(http: HttpClient, path = '/open-banking/0.2/register') {
    this.http = http;
    this.path = path;
  }

  /** POST; answers are returned whatever their status so callers can assert rejections. */
  register(requestJwt: string) {
    return this.http.request<ClientRegistration & { error?: string; error_description?: string }>(
      'POST',
      this.path,
      {
        headers: { 'content-type': 'application/jwt', accept: 'application/json' },
        data: requestJwt,
        expect: [201, 400, 401, 403, 415],
        retry: false,
      },
    );
  }

  get(clientId: string, accessToken: string) {
    return this.http.request<ClientRegistration>('GET', `${this.path}/${encodeURIComponent(clientId)}`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      expect: [200, 401, 403],
    });
  }

  update(clientId: string, accessToken: string, requestJwt: string) {
    return this.http.request<ClientRegistration>('PUT', `${this.path}/${encodeURIComponent(clientId)}`, {
      headers: {
        authorization: `Bearer ${accessToken}`,
        'content-type': 'application/jwt',
        accept: 'application/json',
      },
      data: requestJwt,
      expect: [200, 400, 401, 403],
      retry: false,
    });
  }

  delete(clientId: string, accessToken: string) {
    return this.http.request<unknown>('DELETE', `${this.path}/${encodeURIComponent(clientId)}`, {
      headers: { authorization: `Bearer ${accessToken}` },
      expect: [204, 401, 403],
      retry: false,
    });
  }
}
