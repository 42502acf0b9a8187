import type { HttpClient } from './http.ts';

// The CDR DCR API as a recipient calls it through the gateway.

export interface ClientRegistration {
  client_id: string;
  software_statement?: string;
  redirect_uris?: string[];
  [claim: string]: unknown;
}

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
