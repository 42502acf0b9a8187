import { rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import { ApiError } from '../../../lib/http/errors.ts';
import type { KeyManager } from '../admin/key-managers.ts';
import { basicHeader } from '../auth/credentials.ts';

/**
 * Creates an OAuth client in a WSO2 IS-style key manager (WSO2-IS, ObKeyManager) through its connector
 * endpoint (`clientRegistrationEndpoint`, e.g. identity-server's `/keymanager-operations/dcr/register`),
 * authenticated with the connector's `Username`/`Password`. The endpoint is configured by the admin, so
 * private addresses are allowed; time-outs and a response cap still apply.
 */
export class KeyManagerConnector {
  readonly #agent: Agent;

  constructor(options: { extraCa?: string | undefined; timeoutMs: number }) {
    this.#agent = new Agent({
      connect: {
        timeout: options.timeoutMs,
        ...(options.extraCa ? { ca: [...rootCertificates, options.extraCa] } : {}),
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  async registerClient(
    keyManager: KeyManager,
    credentials: { username: string; password: string },
    client: { clientName: string; grantTypes: string[]; callbackUrl: string | null },
  ): Promise<{ clientId: string; clientSecret: string | null }> {
    const endpoint = keyManager.clientRegistrationEndpoint;
    if (!endpoint)
      throw new ApiError(
        400,
        'Bad Request',
        `key manager ${keyManager.name} has no clientRegistrationEndpoint`,
      );
    let status: number;
    let text: string;
    try {
      const response = await request(endpoint, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: basicHeader(credentials.username, credentials.password),
        },
        body: JSON.stringify({
          client_name: client.clientName,
          grant_types: client.grantTypes,
          redirect_uris: client.callbackUrl ? [client.callbackUrl] : [],
        }),
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw new ApiError(
        502,
        'Bad Gateway',
        `key manager ${keyManager.name} is unreachable: ${(error as Error).message}`,
      );
    }
    if (status !== 200 && status !== 201) {
      throw new ApiError(
        502,
        'Bad Gateway',
        `key manager ${keyManager.name} refused the client (HTTP ${status})`,
      );
    }
    const body = JSON.parse(text.slice(0, 1_000_000)) as { client_id?: unknown; client_secret?: unknown };
    if (typeof body.client_id !== 'string') {
      throw new ApiError(502, 'Bad Gateway', `key manager ${keyManager.name} answered without client_id`);
    }
    return {
      clientId: body.client_id,
      clientSecret: typeof body.client_secret === 'string' ? body.client_secret : null,
    };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
