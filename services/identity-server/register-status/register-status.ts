import type { Logger } from 'pino';
import { z } from 'zod';
import { AdrStatusNotActive } from '../../../lib/http/errors.ts';
import type { Database } from '../../../lib/storage/index.ts';

const recipientsSchema = z.object({
  dataRecipients: z.array(z.object({ legalEntityId: z.string(), status: z.string() })),
});
const productsSchema = z.object({
  softwareProducts: z.array(z.object({ softwareProductId: z.string(), status: z.string() })),
});

export interface RegisterStatusOptions {
  /** The Register's base URL (`obkit.register_status.url`). */
  url: string;
  industry: string;
  intervalSeconds: number;
  db: Database;
  /** Fetches under the outbound policy (lib/http/outbound.ts). */
  fetchJson(url: string): Promise<unknown>;
  logger: Logger;
}

/**
 * What the CDR Register says is not ACTIVE: data recipients (by legal entity) and software products,
 * polled every `interval_seconds` from its status endpoints (Get Data Recipients Statuses, Get Software
 * Products Statuses). A client whose product or recipient is listed as anything but ACTIVE is refused
 * with 403 AdrStatusNotActive until a later poll finds it ACTIVE again. A failed poll keeps the last
 * answer (the Register being unreachable is no reason to cut off every recipient, nor to let a
 * suspended one back in).
 */
export class RegisterStatus {
  readonly #options: RegisterStatusOptions;
  #inactiveRecipients = new Map<string, string>();
  #inactiveProducts = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RegisterStatusOptions) {
    this.#options = options;
  }

  start(): void {
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#options.intervalSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** True when something is not ACTIVE: only then does a request need its client looked up. */
  get anyInactive(): boolean {
    return this.#inactiveRecipients.size > 0 || this.#inactiveProducts.size > 0;
  }

  /** Polls both lists now; resolves once the answer is in force (or the failure logged). */
  async refresh(): Promise<void> {
    const base = `${this.#options.url.replace(/\/+$/, '')}/cdr-register/v1/${this.#options.industry}/data-recipients`;
    try {
      const [recipients, products] = await Promise.all([
        this.#options.fetchJson(`${base}/status`).then((body) => recipientsSchema.parse(body)),
        this.#options
          .fetchJson(`${base}/brands/software-products/status`)
          .then((body) => productsSchema.parse(body)),
      ]);
      this.#inactiveRecipients = new Map(
        recipients.dataRecipients
          .filter((r) => r.status !== 'ACTIVE')
          .map((r) => [r.legalEntityId, r.status]),
      );
      this.#inactiveProducts = new Map(
        products.softwareProducts
          .filter((p) => p.status !== 'ACTIVE')
          .map((p) => [p.softwareProductId, p.status]),
      );
    } catch (error) {
      this.#options.logger.warn(
        { err: (error as Error).message, register: this.#options.url },
        'Register status poll failed; keeping the last statuses',
      );
    }
  }

  /** Throws AdrStatusNotActive for a client whose software product or data recipient is not ACTIVE. */
  assertActive(client: {
    software_id?: unknown;
    metadata?: Record<string, unknown> | null;
    registration?: Record<string, unknown> | null;
  }): void {
    if (!this.anyInactive) return;
    // The SSA's attested claims (org_id, legal_entity_id) are kept with the registration.
    const metadata = { ...client.metadata, ...client.registration };
    const productStatus = this.#inactiveProducts.get(
      String(client.software_id ?? metadata.software_id ?? ''),
    );
    if (productStatus)
      throw new AdrStatusNotActive(`the software product is ${productStatus} at the CDR Register`);
    const recipient = String(metadata.legal_entity_id ?? metadata.org_id ?? '');
    const recipientStatus = this.#inactiveRecipients.get(recipient);
    if (recipientStatus)
      throw new AdrStatusNotActive(`the data recipient is ${recipientStatus} at the CDR Register`);
  }

  /** `assertActive` for a client by id (PAR, token): one lookup, only while something is inactive. */
  async assertClientActive(clientId: string): Promise<void> {
    if (!this.anyInactive) return;
    const { rows } = await this.#options.db.query<{
      software_id: string | null;
      metadata: Record<string, unknown>;
      registration: Record<string, unknown> | null;
    }>(`SELECT software_id, metadata, registration FROM clients WHERE client_id = $1`, [clientId]);
    if (rows[0]) this.assertActive(rows[0]);
  }
}
