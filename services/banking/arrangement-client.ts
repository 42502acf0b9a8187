import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { Config } from '../../lib/config/index.ts';
import { ServiceUnavailable, Unauthorized } from '../../lib/http/errors.ts';

const arrangementSchema = z.object({
  cdr_arrangement_id: z.string(),
  customer_id: z.string(),
  account_ids: z.array(z.string()),
  scope: z.string(),
  status: z.enum(['active', 'revoked']),
  expires_at: z.number().nullable(),
});

/** What an arrangement lets the banking service disclose. */
export interface ArrangementGrant {
  customerId: string;
  accountIds: ReadonlySet<string>;
  scopes: ReadonlySet<string>;
}

/**
 * Reads arrangements from the identity server's internal endpoint over mutual TLS with the banking
 * service's own internal client certificate (CN=obkit-banking) — the only caller that endpoint answers.
 * Not cached: an amendment or a revocation applies to the very next request.
 */
export class ArrangementClient {
  readonly #agent: Agent;
  readonly #baseUrl: string;

  constructor(config: Config, timeoutMs = 5000) {
    const tls = config.obkit.tls;
    this.#baseUrl = config.obkit.identity_server.url;
    this.#agent = new Agent({
      connect: {
        cert: readFileSync(tls.banking_client_certificate, 'utf8'),
        key: readFileSync(tls.banking_client_key, 'utf8'),
        ...(tls.outbound_ca ? { ca: readFileSync(tls.outbound_ca, 'utf8') } : {}),
        timeout: timeoutMs,
      },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  /** The active arrangement's grant; 401 Unauthorized for one unknown, revoked or expired. */
  async grant(arrangementId: string, now = Date.now()): Promise<ArrangementGrant> {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(
        `${this.#baseUrl}/internal/arrangements/${encodeURIComponent(arrangementId)}`,
        {
          dispatcher: this.#agent,
        },
      );
    } catch {
      throw new ServiceUnavailable('the consent store cannot be reached', { 'retry-after': '1' });
    }
    if (response.statusCode === 404) {
      await response.body.dump();
      throw new Unauthorized('the access token names no known arrangement');
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new ServiceUnavailable(`the consent store answered ${response.statusCode}`, {
        'retry-after': '1',
      });
    }
    const arrangement = arrangementSchema.parse(await response.body.json());
    const expired = arrangement.expires_at !== null && arrangement.expires_at * 1000 <= now;
    if (arrangement.status !== 'active' || expired) {
      throw new Unauthorized('the arrangement is no longer active');
    }
    return {
      customerId: arrangement.customer_id,
      accountIds: new Set(arrangement.account_ids),
      scopes: new Set(arrangement.scope.split(' ').filter(Boolean)),
    };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
