import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { SandboxPki } from '../../lib/pki/index.ts';
import type { Exchange } from './wso2-contract.ts';

/**
 * An HTTPS reverse proxy that records every exchange: scripts pointed at it (`--apim <proxy url>`) run
 * unchanged against the real server behind it, and the test reads what they sent and what came back.
 * It serves the sandbox server certificate, so the scripts' `--ca` trusts it as they trust the server.
 */
export interface RecordingProxy {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

export async function startRecordingProxy(upstream: string, pki: SandboxPki): Promise<RecordingProxy> {
  const ca = await readFile(pki.caBundle, 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  const exchanges: Exchange[] = [];
  const server: Server = createServer(
    { cert: await readFile(pki.serverCertificate), key: await readFile(pki.serverKey) },
    async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const requestBody = Buffer.concat(chunks);
      const requestHeaders = flatten(req.headers);
      try {
        const answer = await request(`${upstream}${req.url}`, {
          method: req.method as 'GET',
          headers: Object.fromEntries(Object.entries(requestHeaders).filter(([k]) => !HOP_BY_HOP.has(k))),
          ...(requestBody.length ? { body: requestBody } : {}),
          dispatcher,
        });
        const responseBody = Buffer.from(await answer.body.arrayBuffer());
        const responseHeaders = flatten(answer.headers);
        exchanges.push({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          requestHeaders,
          requestBody,
          status: answer.statusCode,
          responseHeaders,
          responseBody,
        });
        const forwarded = Object.entries(responseHeaders).filter(([k]) => !HOP_BY_HOP.has(k));
        res.writeHead(answer.statusCode, Object.fromEntries(forwarded)).end(responseBody);
      } catch (error) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${(error as Error).message}`);
      }
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}`,
    exchanges,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dispatcher.close();
    },
  };
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}
