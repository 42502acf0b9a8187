import { readFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SERVER_TLS_PROFILE } from '../../lib/http/tls-profile.ts';

/**
 * A tiny HTTPS site on 127.0.0.1, port 0, with the sandbox server certificate: what a recipient's
 * logo/policy/tos pages and sector identifier document look like to URI and sector-identifier checks.
 * Paths answer what `pages` says (status + JSON or text); anything else is 404.
 */
export interface StaticSite {
  /** `https://127.0.0.1:<port>` */
  origin: string;
  host: string;
  pages: Map<string, { status: number; body: unknown }>;
  requests: string[];
  close(): Promise<void>;
}

export async function startStaticSite(pki: {
  serverCertificate: string;
  serverKey: string;
}): Promise<StaticSite> {
  const pages = new Map<string, { status: number; body: unknown }>();
  const requests: string[] = [];
  const server = https.createServer(
    {
      ...SERVER_TLS_PROFILE,
      cert: await readFile(pki.serverCertificate),
      key: await readFile(pki.serverKey),
    },
    (request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      requests.push(path);
      const page = pages.get(path);
      response.statusCode = page?.status ?? 404;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(page?.body ?? { error: 'not found' }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    pages,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
