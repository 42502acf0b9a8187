import type { IncomingHttpHeaders } from 'node:http';
import type { SecureContext } from 'node:tls';
import { type Dispatcher, Pool, errors as undiciErrors } from 'undici';
import { BadGateway, GatewayTimeout } from '../../lib/http/errors.ts';

export interface UpstreamOptions {
  /** Internal mutual TLS: the gateway's client certificate and key (PEM), and the CAs it trusts. */
  tls: { secureContext: SecureContext };
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
        connect: { secureContext: tls.secureContext, timeout: connectTimeoutMs },
        headersTimeout: headersTimeoutMs,
        bodyTimeout: bodyTimeoutMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * One request through the origin's pool. Uses undici's handler interface rather than `request()`:
   * the body is collected straight from the parser, with no stream or async iterator per request.
   */
  send(
    origin: string,
    path: string,
    method: string,
    headers: IncomingHttpHeaders,
    body: Buffer | undefined,
  ): Promise<UpstreamResponse> {
    const limit = this.#options.maxResponseBytes;
    const deadline = Date.now() + this.#options.headersTimeoutMs + this.#options.bodyTimeoutMs;
    return new Promise((resolve, reject) => {
      let status = 0;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const fail = (controller: Dispatcher.DispatchController | undefined, error: Error) => {
        if (settled) return;
        settled = true;
        controller?.abort(error);
        reject(upstreamError(error, origin));
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseStart(controller, statusCode, received) {
          status = statusCode;
          responseHeaders = received;
          if (Number(received['content-length'] ?? 0) > limit) {
            fail(controller, new BadGateway(`the backend response exceeds ${limit} bytes`));
          }
        },
        onResponseData(controller, chunk) {
          size += chunk.length;
          if (size > limit)
            return fail(controller, new BadGateway(`the backend response exceeds ${limit} bytes`));
          if (Date.now() > deadline) {
            return fail(controller, new GatewayTimeout('the backend did not finish its response in time'));
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          if (settled) return;
          settled = true;
          resolve({
            status,
            headers: relayable(responseHeaders),
            body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
          });
        },
        onResponseError(_controller, error) {
          fail(undefined, error);
        },
      };
      try {
        this.#pool(origin).dispatch(
          {
            origin,
            path,
            method: method as Dispatcher.HttpMethod,
            headers: headers as Record<string, string>,
            body: body ?? null,
          },
          handler,
        );
      } catch (error) {
        fail(undefined, error as Error);
      }
    });
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }
}

function relayable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const relayed: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) relayed[name] = value;
  }
  return relayed;
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
  // Refused or cut: the backend is down or restarting; the next attempt reconnects at once.
  return new BadGateway(`the backend ${origin} could not be reached`, 1);
}
