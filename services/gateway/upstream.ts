import type { IncomingHttpHeaders } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import { BadGateway, GatewayTimeout } from '../../lib/http/errors.ts';

export interface UpstreamOptions {
  /** Internal mutual TLS: the gateway's client certificate and key (PEM), and the CAs it trusts. */
  tls: { cert: string; key: string; ca: string[] };
  connectTimeoutMs: number;
  /** Time to the response headers. */
  headersTimeoutMs: number;
  /** Idle time between body chunks, and the whole body must arrive within it too. */
  bodyTimeoutMs: number;
  maxResponseBytes: number;
  connections: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** Response headers that describe one hop and must not be relayed to the client. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/**
 * Calls backends through one undici Pool per origin (keep-alive, internal mutual TLS), with connect,
 * header and body time-outs and a response size cap. Failures become 502, time-outs 504 — the client
 * always gets an answer.
 */
export class Upstreams {
  readonly #options: UpstreamOptions;
  readonly #pools = new Map<string, Pool>();

  constructor(options: UpstreamOptions) {
    this.#options = options;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      const { tls, connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs, connections } = this.#options;
      pool = new Pool(origin, {
        connections,
        connect: { cert: tls.cert, key: tls.key, ca: tls.ca, timeout: connectTimeoutMs },
        headersTimeout: headersTimeoutMs,
        bodyTimeout: bodyTimeoutMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async send(
    origin: string,
    path: string,
    method: string,
    headers: IncomingHttpHeaders,
    body: Buffer | undefined,
  ): Promise<UpstreamResponse> {
    const started = Date.now();
    const limit = this.#options.maxResponseBytes;
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.#pool(origin).request({
        path,
        method: method as 'GET',
        headers: headers as Record<string, string>,
        body: body ?? null,
      });
    } catch (error) {
      throw upstreamError(error, origin);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      const declared = Number(response.headers['content-length'] ?? 0);
      if (declared > limit) throw new BadGateway(`the backend response exceeds ${limit} bytes`);
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > limit) throw new BadGateway(`the backend response exceeds ${limit} bytes`);
        if (Date.now() - started > this.#options.headersTimeoutMs + this.#options.bodyTimeoutMs) {
          throw new GatewayTimeout('the backend did not finish its response in time');
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      response.body.destroy();
      throw upstreamError(error, origin);
    }
    const relayed: Record<string, string | string[]> = {};
    for (const name in response.headers) {
      if (HOP_BY_HOP.has(name)) continue;
      const value = response.headers[name];
      if (value !== undefined) relayed[name] = value;
    }
    return {
      status: response.statusCode,
      headers: relayed,
      body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
    };
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }
}

function upstreamError(error: unknown, origin: string): Error {
  if (error instanceof BadGateway || error instanceof GatewayTimeout) return error;
  if (
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  ) {
    return new GatewayTimeout(`the backend ${origin} did not answer in time`);
  }
  return new BadGateway(`the backend ${origin} could not be reached`);
}
