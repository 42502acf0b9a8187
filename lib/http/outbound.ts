import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { createSecureContext, rootCertificates } from 'node:tls';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { Agent, request, errors as undiciErrors } from 'undici';

/**
 * Outbound fetches of URLs that a client chose (ADR JWKS, sector identifier, URI checks) and of the
 * Register's JWKS: HTTPS only, connect/read time-outs, a response size cap, and no loopback or private
 * address — the address is checked after DNS resolution, at connect time, so a rebinding name cannot
 * slip through. Sandbox may allow private addresses so local services and tests can serve keys.
 */
export interface OutboundPolicy {
  allowPrivateAddresses: boolean;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  maxBytes: number;
  /** Extra CA certificates (PEM) trusted besides the system roots, e.g. the sandbox CA. */
  extraCa?: string | undefined;
}

export class OutboundError extends Error {
  readonly reason: 'scheme' | 'address' | 'timeout' | 'size' | 'status' | 'network' | 'format';
  /** The full story (addresses, TLS errors) for the log; `message` is what a caller may be told. */
  readonly detail: string;
  constructor(reason: OutboundError['reason'], message: string, detail = message) {
    super(message);
    this.name = 'OutboundError';
    this.reason = reason;
    this.detail = detail;
  }
}

/** IPv4-compatible IPv6 (deprecated, RFC 4291): ::/96, which ipaddr.js counts as unicast. */
const ipv4Compatible = new BlockList();
ipv4Compatible.addSubnet('::', 96, 'ipv6');

/**
 * True for any address that is not a public unicast destination: private, loopback, link-local,
 * carrier-grade NAT, multicast, documentation, benchmarking and other special ranges (ipaddr.js's
 * classification), IPv4-compatible ::/96, NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and Teredo. IPv4-mapped
 * (::ffff:0:0/96) and 6to4 (2002::/16) addresses are judged by the IPv4 address they carry.
 * Host names are not addresses (false): they are judged once resolved.
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return ipaddr.IPv4.parse(address).range() !== 'unicast';
  if (ipv4Compatible.check(address, 'ipv6')) return true;
  const parsed = ipaddr.IPv6.parse(address);
  const range = parsed.range();
  if (range === 'ipv4Mapped') return isPrivateAddress(parsed.toIPv4Address().toString());
  if (range === '6to4') {
    const [, high, low] = parsed.parts as [number, number, number];
    return isPrivateAddress(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`);
  }
  return range !== 'unicast';
}

interface OutboundRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/** Fetches one HTTPS resource under the policy; several calls share one agent per policy. */
export class OutboundClient {
  readonly policy: OutboundPolicy;
  readonly #agent: Agent;
  readonly #logger: Pick<Logger, 'warn'> | undefined;

  /** `logger`: where each failure's detail is written (the caller only gets the message). */
  constructor(policy: OutboundPolicy, logger?: Pick<Logger, 'warn'>) {
    this.policy = policy;
    this.#logger = logger;
    const guardedLookup: typeof dnsLookup = ((
      hostname: string,
      options: object,
      callback: (...args: unknown[]) => void,
    ) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error);
        const denied = policy.allowPrivateAddresses
          ? []
          : addresses.filter((a) => isPrivateAddress(a.address));
        if (denied.length) {
          return callback(
            new OutboundError(
              'address',
              `${hostname} is not an allowed destination (not a public address)`,
              `${hostname} resolves to ${denied.map((a) => a.address).join(', ')}: not a public address`,
            ),
          );
        }
        const all = (options as { all?: boolean }).all;
        return all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    }) as typeof dnsLookup;
    this.#agent = new Agent({
      connect: {
        timeout: policy.connectTimeoutMs,
        lookup: guardedLookup,
        // One TLS context for every connection: given `ca` instead, each new connection would parse the
        // ~150 system roots again (~2.5 % of a registration's CPU in bench/identity-server.ts).
        ...(policy.extraCa
          ? { secureContext: createSecureContext({ ca: [...rootCertificates, policy.extraCa] }) }
          : {}),
      },
      headersTimeout: policy.readTimeoutMs,
      bodyTimeout: policy.readTimeoutMs,
    });
  }

  /**
   * GETs `url` and returns its status and at most `maxBytes` of body; larger bodies are an error. A
   * failure is an OutboundError whose message a caller may pass on (no internal addresses, ports or TLS
   * errors); its detail goes to the log.
   */
  get(url: string, accept = 'application/json'): Promise<{ status: number; body: string }> {
    return this.#logged(url, { method: 'GET', headers: { accept } });
  }

  /** POSTs a form to `url` (e.g. a recipient's revocation endpoint) under the same policy as `get`. */
  postForm(
    url: string,
    form: URLSearchParams,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> {
    return this.#logged(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
  }

  async #logged(url: string, init: OutboundRequest): Promise<{ status: number; body: string }> {
    try {
      return await this.#send(url, init);
    } catch (error) {
      const failure = error as OutboundError;
      this.#logger?.warn({ url, reason: failure.reason, detail: failure.detail }, 'outbound fetch failed');
      throw failure;
    }
  }

  async #send(url: string, init: OutboundRequest): Promise<{ status: number; body: string }> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new OutboundError('format', `not a URL: ${url}`);
    }
    if (target.protocol !== 'https:')
      throw new OutboundError('scheme', `only https URLs are fetched: ${url}`);
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (!this.policy.allowPrivateAddresses && isPrivateAddress(literal)) {
      throw new OutboundError(
        'address',
        `${target.hostname} is not an allowed destination (not a public address)`,
        `${literal} is not a public address`,
      );
    }
    const signal = AbortSignal.timeout(this.policy.connectTimeoutMs + this.policy.readTimeoutMs);
    try {
      const response = await request(target, {
        method: init.method,
        dispatcher: this.#agent,
        headers: init.headers,
        body: init.body ?? null,
        maxRedirections: 0,
        signal,
      } as Parameters<typeof request>[1]);
      const declared = Number(response.headers['content-length'] ?? 0);
      // Discard rather than destroy: destroying an undici body emits an error nobody listens to.
      const discard = () => response.body.dump({ limit: 0 }).catch(() => {});
      if (declared > this.policy.maxBytes) {
        void discard();
        throw new OutboundError('size', `${url} answered more than ${this.policy.maxBytes} bytes`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > this.policy.maxBytes) {
          void discard();
          throw new OutboundError('size', `${url} answered more than ${this.policy.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') };
    } catch (error) {
      if (error instanceof OutboundError) throw error;
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof OutboundError) throw cause;
      if (
        error instanceof undiciErrors.ConnectTimeoutError ||
        error instanceof undiciErrors.HeadersTimeoutError ||
        error instanceof undiciErrors.BodyTimeoutError ||
        (error as Error).name === 'TimeoutError' ||
        (error as Error).name === 'AbortError'
      ) {
        throw new OutboundError('timeout', `${url} did not answer in time`);
      }
      const code = (error as { code?: string }).code ?? (cause as { code?: string } | undefined)?.code;
      throw new OutboundError(
        'network',
        `${url} could not be fetched`,
        `${url}: ${(error as Error).message}${code ? ` (${code})` : ''}`,
      );
    }
  }

  /** GETs a JSON document; non-200 or non-JSON answers are errors. */
  async getJson(url: string): Promise<unknown> {
    const { status, body } = await this.get(url);
    if (status !== 200) throw new OutboundError('status', `${url} answered HTTP ${status}`);
    try {
      return JSON.parse(body);
    } catch {
      throw new OutboundError('format', `${url} did not answer JSON`);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
