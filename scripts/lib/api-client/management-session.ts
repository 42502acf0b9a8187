import { MANAGEMENT_SCOPES } from '../../../lib/wso2/management-api.ts';
import { ApiCallError, errorText, type HttpClient, type HttpResponse, type RequestOptions } from './http.ts';

// WSO2 APIM management authentication: client-registration v0.17, then the password grant.

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

/** A WSO2 management API list answer. */
export type List<T> = { count: number; list: T[] };

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
