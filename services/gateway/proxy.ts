import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { OAuthError, PayloadTooLarge, renderError } from '../../lib/http/errors.ts';
import type { Headers } from './mediation.ts';

/** Request headers that describe one hop; never relayed to a backend. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  // Node already answered `100 Continue`; undici refuses to send the header on.
  'expect',
]);

/** Pipeline step 6 (the request side): the headers relayed to the backend, without the bearer token. */
export function forwardHeaders(req: IncomingMessage, authorizationHeader: string | undefined): Headers {
  const headers: Headers = {};
  const inbound = req.headers;
  for (const name in inbound) {
    if (HOP_BY_HOP.has(name) || name === authorizationHeader) continue;
    headers[name] = inbound[name];
  }
  const forwardedFor = inbound['x-forwarded-for'];
  const address = req.socket.remoteAddress ?? '';
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${address}` : address;
  headers['x-forwarded-proto'] = 'https';
  if (inbound.host) headers['x-forwarded-host'] = inbound.host;
  return headers;
}

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** How long the rest of an oversized body is read and dropped after the 413, before the socket is cut. */
const OVERSIZED_BODY_LINGER_MS = 5000;

/**
 * The request body, up to `limit` bytes. Past it the answer is 413 while the rest is read and dropped
 * (node does that for an unread body): cutting the socket while the client still sends would reset the
 * connection and lose the 413 with it. A body that keeps coming is cut after a short linger.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > limit) return Promise.reject(new PayloadTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', collect);
      chunks.length = 0;
      req.resume();
      const linger = setTimeout(() => req.socket.destroy(), OVERSIZED_BODY_LINGER_MS);
      req.once('close', () => clearTimeout(linger));
      reject(new PayloadTooLarge(limit));
    };
    req.on('data', collect);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export function send(res: ServerResponse, status: number, headers: Headers, body: Buffer): number {
  if (res.headersSent || res.destroyed) return status;
  headers['content-length'] = String(body.length);
  res.writeHead(status, headers as Record<string, string | string[]>);
  res.end(body);
  return status;
}

/** An error as the JSON answer of its class (lib/http/errors.ts); unexpected ones are logged. */
export function sendError(res: ServerResponse, error: unknown, logger: Logger): number {
  const rendered = renderError(error);
  if (rendered.status >= 500 && !(error instanceof OAuthError))
    logger.error({ err: error }, 'request failed');
  send(
    res,
    rendered.status,
    { ...rendered.headers, 'content-type': 'application/json' },
    Buffer.from(JSON.stringify(rendered.body)),
  );
  return rendered.status;
}
