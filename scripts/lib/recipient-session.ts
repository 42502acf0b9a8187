import { Agent, request } from 'undici';
import { buildClientAssertion, clientAssertionFields, type RecipientKeys } from '../../lib/cdr/index.ts';
import { buildRequestObject, type HttpExchange } from '../../lib/cdr/sandbox-consent.ts';
import type { Target } from './target.ts';

/** A registered CDR client as the sandbox journey drives it. */
export interface RegisteredClient {
  clientId: string;
  key: RecipientKeys;
  redirectUri: string;
}

/** A pushed authorisation request: where to send the customer, and what the recipient keeps. */
export interface PushedAuthorization {
  authorizeUrl: string;
  /** Seconds the `request_uri` stays valid. */
  expiresIn: number;
  verifier: string;
  state: string;
}

/**
 * A recipient's connection to a Data Holder: its transport certificate on every call (undici, redirects
 * not followed, every `set-cookie` kept), private_key_jwt forms to the identity server, and PAR.
 */
export class RecipientSession {
  readonly target: Target;
  readonly client: RegisteredClient;
  readonly #agent: Agent;

  constructor(target: Target, client: RegisteredClient) {
    if (!target.clientCertificate) throw new Error('the target names no recipient transport certificate');
    this.target = target;
    this.client = client;
    this.#agent = new Agent({
      connect: {
        ...(target.ca ? { ca: target.ca } : {}),
        cert: target.clientCertificate.certificate,
        key: target.clientCertificate.key,
      },
    });
  }

  readonly send: HttpExchange = async (method, url, init) => {
    const host = this.target.hostHeaderFor(url);
    const response = await request(url, {
      method,
      headers: host ? { ...init.headers, host } : init.headers,
      body: init.body ?? null,
      dispatcher: this.#agent,
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  };

  /** A form POST to the identity server (`path`), authenticated with a fresh client assertion. */
  async form(path: string, fields: Record<string, string>): ReturnType<HttpExchange> {
    const { identityServer } = this.target.manifest;
    const assertion = await buildClientAssertion({
      clientId: this.client.clientId,
      audience: identityServer.issuer,
      key: this.client.key,
    });
    return this.send('POST', `${identityServer.url}${path}`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: this.client.clientId,
        ...clientAssertionFields(assertion),
        ...fields,
      }).toString(),
    });
  }

  /** PAR with a signed request object (`scope`, an hour's sharing); throws with the answer when refused. */
  async pushAuthorization(scope = 'openid bank:accounts.basic:read'): Promise<PushedAuthorization> {
    const { identityServer } = this.target.manifest;
    const { jwt, verifier, state } = await buildRequestObject({
      clientId: this.client.clientId,
      audience: identityServer.issuer,
      key: this.client.key,
      redirectUri: this.client.redirectUri,
      scope,
      sharingDuration: 3600,
    });
    const pushed = await this.form('/oauth2/par', { request: jwt });
    if (pushed.status !== 201)
      throw new Error(`PAR answered HTTP ${pushed.status} ${pushed.text.slice(0, 300)}`);
    const body = JSON.parse(pushed.text) as { request_uri: string; expires_in: number };
    const query = new URLSearchParams({ client_id: this.client.clientId, request_uri: body.request_uri });
    return {
      authorizeUrl: `${identityServer.url}/oauth2/authorize?${query}`,
      expiresIn: body.expires_in,
      verifier,
      state,
    };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
