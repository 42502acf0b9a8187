import type { HttpClient } from './http.ts';

/** The identity server's OAuth endpoints: discovery, JWKS and the token endpoint. */
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
