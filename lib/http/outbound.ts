import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
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
  constructor(reason: OutboundError['reason'], message: string) {
    super(message);
    this.name = 'OutboundError';
    this.reason = reason;
  }
}

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isPrivateAddress(mapped[1]!);
  const family = isIP(address);
  if (family === 0) return false;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Fetches one HTTPS resource under the policy; several calls share one agent per policy. */
export class OutboundClient {
  readonly policy: OutboundPolicy;
  readonly #agent: Agent;

  constructor(policy: OutboundPolicy) {
    this.policy = policy;
    const guardedLookup: typeof dnsLookup = ((
      hostname: string,
      options: object,
      callback: (...args: unknown[]) => void,
    ) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error);
        const denied = !policy.allowPrivateAddresses && addresses.some((a) => isPrivateAddress(a.address));
        if (denied)
          return callback(new OutboundError('address', `${hostname} resolves to a private address`));
        const all = (options as { all?: boolean }).all;
        return all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    }) as typeof dnsLookup;
    this.#agent = new Agent({
      connect: {
        timeout: policy.connectTimeoutMs,
        lookup: guardedLookup,
        ...(policy.extraCa ? { ca: [...rootCertificates, policy.extraCa] } : {}),
      },
      headersTimeout: policy.readTimeoutMs,
      bodyTimeout: policy.readTimeoutMs,
    });
  }

  /** GETs `url` and returns its status and at most `maxBytes` of body; larger bodies are an error. */
  async get(url: string, accept = 'application/json'): Promise<{ status: number; body: string }> {
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
      throw new OutboundError('address', `${target.hostname} is a private address`);
    }
    const signal = AbortSignal.timeout(this.policy.connectTimeoutMs + this.policy.readTimeoutMs);
    try {
      const response = await request(target, {
        method: 'GET',
        dispatcher: this.#agent,
        headers: { accept },
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
      throw new OutboundError('network', `${url} could not be fetched: ${(error as Error).message}`);
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
