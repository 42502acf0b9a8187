import { Agent, request } from 'undici';
import type { JwksDocument } from './recipient.ts';
import type { SoftwareProductMetadata } from './software-statement.ts';

/**
 * A small client for the CDR Register as obkit's sandbox Register implements it: the public Register
 * surface (JWKS, SSA, hosted recipient JWKS, sector identifiers) and the sandbox admin API. Used by the
 * scripts (smoke test), tests and benchmarks.
 */

export type Industry = 'banking' | 'energy' | 'telco' | 'all';
/** Statuses of a software product and of its brand in the Register. */
export type ProductStatus = 'ACTIVE' | 'INACTIVE' | 'REMOVED';
/** Statuses of an accredited data recipient in the Register. */
export type DataRecipientStatus = 'ACTIVE' | 'SUSPENDED' | 'REVOKED' | 'SURRENDERED';

/** Body of `PUT /admin/software-products/{softwareProductId}`. */
export interface SoftwareProductInput {
  brandId: string;
  industry?: Industry;
  status?: ProductStatus;
  brandStatus?: ProductStatus;
  dataRecipientStatus?: DataRecipientStatus;
  /** Copied into each SSA; `software_id` is the product ID and `software_roles` is fixed. */
  metadata: SoftwareProductMetadata;
}

export interface SoftwareProduct extends Required<Omit<SoftwareProductInput, 'metadata'>> {
  softwareProductId: string;
  metadata: SoftwareProductMetadata;
  createdAt: string;
  updatedAt: string;
}

export interface StatusChange {
  status?: ProductStatus;
  brandStatus?: ProductStatus;
  dataRecipientStatus?: DataRecipientStatus;
}

/** Outcome of an idempotent PUT, so scripts can say "unchanged". */
export type PutOutcome = 'created' | 'updated' | 'unchanged';

export interface RegisterClientOptions {
  /** The Register's base URL, e.g. `https://localhost:7000`. */
  baseUrl: string;
  /** PEM CA certificate(s) trusted for the Register's server certificate, besides the system roots. */
  ca?: string | string[];
  /** Transport certificate (PEM, chain allowed) and key: the SSA endpoint requires mutual TLS. */
  clientCertificate?: { certificate: string; key: string };
  admin?: { username: string; password: string };
  timeoutMs?: number;
}

/** A non-2xx answer from the Register, with its parsed body (`{"errors":[{code,title,detail}]}`). */
export class RegisterClientError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(method: string, url: string, status: number, body: unknown) {
    super(`${method} ${url} answered ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
    this.name = 'RegisterClientError';
    this.status = status;
    this.body = body;
  }
}

export class RegisterClient {
  readonly baseUrl: string;
  readonly #agent: Agent;
  readonly #admin: RegisterClientOptions['admin'];

  constructor(options: RegisterClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#admin = options.admin;
    const timeout = options.timeoutMs ?? 10_000;
    this.#agent = new Agent({
      connect: {
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.clientCertificate
          ? { cert: options.clientCertificate.certificate, key: options.clientCertificate.key }
          : {}),
        timeout,
      },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  get jwksUrl(): string {
    return `${this.baseUrl}/cdr-register/v1/jwks`;
  }

  ssaUrl(product: { industry?: Industry; brandId: string; softwareProductId: string }): string {
    const industry = encodeURIComponent(product.industry ?? 'banking');
    return `${this.baseUrl}/cdr-register/v1/${industry}/data-recipients/brands/${encodeURIComponent(product.brandId)}/software-products/${encodeURIComponent(product.softwareProductId)}/ssa`;
  }

  /** Where the Register hosts a test recipient's public JWKS (usable as the product's `jwks_uri`). */
  recipientJwksUrl(softwareProductId: string): string {
    return `${this.baseUrl}/cdr-register/v1/recipient-jwks/${encodeURIComponent(softwareProductId)}`;
  }

  /** A JSON array of the product's redirect URIs (usable as its `sector_identifier_uri`). */
  sectorIdentifierUrl(softwareProductId: string): string {
    return `${this.baseUrl}/cdr-register/v1/sector-identifiers/${encodeURIComponent(softwareProductId)}`;
  }

  async getJwks(): Promise<JwksDocument> {
    return (await this.#call('GET', this.jwksUrl)).body as JwksDocument;
  }

  /** A fresh SSA (compact JWS) for the product; requires the client certificate. */
  async getSsa(product: {
    industry?: Industry;
    brandId: string;
    softwareProductId: string;
  }): Promise<string> {
    return (await this.#call('GET', this.ssaUrl(product), { accept: 'application/jwt' })).body as string;
  }

  async putSoftwareProduct(
    softwareProductId: string,
    input: SoftwareProductInput,
  ): Promise<{ product: SoftwareProduct; outcome: PutOutcome }> {
    const response = await this.#call('PUT', this.#productUrl(softwareProductId), {
      admin: true,
      json: input,
    });
    return {
      product: response.body as SoftwareProduct,
      outcome: (response.headers['x-obkit-outcome'] as PutOutcome | undefined) ?? 'updated',
    };
  }

  async getSoftwareProduct(softwareProductId: string): Promise<SoftwareProduct> {
    return (await this.#call('GET', this.#productUrl(softwareProductId), { admin: true }))
      .body as SoftwareProduct;
  }

  async listSoftwareProducts(): Promise<SoftwareProduct[]> {
    const url = `${this.baseUrl}/admin/software-products`;
    return ((await this.#call('GET', url, { admin: true })).body as { data: SoftwareProduct[] }).data;
  }

  async setSoftwareProductStatus(softwareProductId: string, change: StatusChange): Promise<SoftwareProduct> {
    const url = `${this.#productUrl(softwareProductId)}/status`;
    return (await this.#call('PUT', url, { admin: true, json: change })).body as SoftwareProduct;
  }

  async putRecipientJwks(softwareProductId: string, jwks: JwksDocument): Promise<PutOutcome> {
    const url = `${this.baseUrl}/admin/recipient-jwks/${encodeURIComponent(softwareProductId)}`;
    const response = await this.#call('PUT', url, { admin: true, json: jwks });
    return (response.headers['x-obkit-outcome'] as PutOutcome | undefined) ?? 'updated';
  }

  /** Starts signing with a new Register key; previous keys stay published for the retention period. */
  async rotateSigningKey(): Promise<{ kid: string; published: string[] }> {
    const url = `${this.baseUrl}/admin/signing-keys/rotate`;
    return (await this.#call('POST', url, { admin: true })).body as { kid: string; published: string[] };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #productUrl(softwareProductId: string): string {
    return `${this.baseUrl}/admin/software-products/${encodeURIComponent(softwareProductId)}`;
  }

  async #call(
    method: string,
    url: string,
    options: { admin?: boolean; json?: unknown; accept?: string } = {},
  ): Promise<{ body: unknown; headers: Record<string, string | string[] | undefined> }> {
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (options.admin) {
      if (!this.#admin) throw new Error('RegisterClient: admin credential not configured');
      const basic = Buffer.from(`${this.#admin.username}:${this.#admin.password}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    }
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const response = await request(url, {
      method: method as 'GET',
      headers,
      body: options.json === undefined ? null : JSON.stringify(options.json),
      dispatcher: this.#agent,
    });
    const text = await response.body.text();
    const isJson = String(response.headers['content-type'] ?? '').includes('json');
    const body = isJson && text ? JSON.parse(text) : text;
    if (response.statusCode >= 300) throw new RegisterClientError(method, url, response.statusCode, body);
    return { body, headers: response.headers };
  }
}
