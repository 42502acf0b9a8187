import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponseHeaders, type RawAxiosResponseHeaders } from 'axios';

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
