import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { logServerError, renderError } from '../../../lib/http/errors.ts';
import type { Service } from '../../../lib/http/service.ts';
import type { CallerLimits } from '../limits/caller-limits.ts';
import { refuseInactiveClient } from '../register-status/oauth-gate.ts';
import type { RegisterStatus } from '../register-status/register-status.ts';
import type { ClientCertificateResolver } from './client-certificate.ts';
import { OAUTH_MOUNT, OAUTH_ROUTES } from './provider.ts';

export const DISCOVERY_PATH = `${OAUTH_MOUNT}/token/.well-known/openid-configuration`;

/** What the mount needs once the server is up. */
export interface OAuthMountParts {
  /** The configured URL's host: endpoint URLs never derive from a caller's Host. */
  publicHost: string;
  certificates: ClientCertificateResolver;
  callerLimits: CallerLimits;
  registerStatus: RegisterStatus;
}

/**
 * `/oauth2/*` on the service's port, handed to oidc-provider (a Koa app) with the mount prefix stripped,
 * as `app.use('/oauth2')` would; until the provider is ready it answers 503. Metrics and one log line per
 * request, the POST-only authorisation refusal, mutual TLS for PAR and the caller limits come first.
 */
export class OAuthMount {
  /** The current provider's request handler (replaced when the provider is rebuilt). */
  handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  readonly #logger: Service['logger'];
  readonly #requests: Counter<'endpoint' | 'status'>;
  #parts: OAuthMountParts | undefined;

  constructor(logger: Service['logger'], metrics: Registry) {
    this.#logger = logger;
    this.#requests = new Counter({
      name: 'obkit_oauth_requests_total',
      help: 'OAuth endpoint requests (/oauth2/*) by endpoint and status',
      labelNames: ['endpoint', 'status'],
      registers: [metrics],
    });
  }

  ready(parts: OAuthMountParts): void {
    this.#parts = parts;
  }

  /** False for a path outside the mount (fastify routes it). */
  route(req: IncomingMessage, res: ServerResponse): boolean {
    const requestUrl = req.url ?? '/';
    const path = requestUrl.split('?')[0]!;
    if (path !== OAUTH_MOUNT && !path.startsWith(`${OAUTH_MOUNT}/`)) return false;
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      this.#requests.inc({ endpoint: endpointLabel(path), status: res.statusCode });
      this.#logger.info(
        {
          method: req.method,
          url: path,
          status: res.statusCode,
          ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
        },
        'request',
      );
    });
    const parts = this.#parts;
    const handle = this.handler;
    if (!handle || !parts) return reply(res, 503, 'temporarily_unavailable', 'the server is starting');
    if (
      path === `${OAUTH_MOUNT}${OAUTH_ROUTES.authorization}` &&
      req.method !== 'GET' &&
      req.method !== 'HEAD'
    ) {
      // A pushed request_uri is redeemed once from the query (request-uri-redemption.ts); a form body
      // would go round that.
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, 'invalid_request', `${req.method} is not allowed here; allowed: GET, HEAD`);
    }
    const query = requestUrl.slice(path.length);
    const routed = req as IncomingMessage & { originalUrl?: string };
    if (path === DISCOVERY_PATH) {
      // WSO2 publishes discovery under the issuer (…/oauth2/token/.well-known/…); the provider under its mount.
      routed.url = `/.well-known/openid-configuration${query}`;
      routed.originalUrl = `${OAUTH_MOUNT}/.well-known/openid-configuration${query}`;
    } else {
      routed.originalUrl = requestUrl;
      routed.url = requestUrl.slice(OAUTH_MOUNT.length) || '/';
    }
    // Endpoint URLs (discovery, client-assertion audiences) derive from the configured URL, not from
    // whatever Host a caller or an intermediary sent.
    req.headers.host = parts.publicHost;
    if (
      path === `${OAUTH_MOUNT}${OAUTH_ROUTES.pushed_authorization_request}` &&
      !parts.certificates.certificateOf(req)
    ) {
      // CDS: pushed authorisation requests come over mutual TLS, like the token endpoint's.
      return reply(res, 401, 'invalid_client', 'pushed authorization requests need a client certificate');
    }
    const isToken = path === `${OAUTH_MOUNT}${OAUTH_ROUTES.token}`;
    if (
      (isToken || path === `${OAUTH_MOUNT}${OAUTH_ROUTES.pushed_authorization_request}`) &&
      req.method === 'POST'
    ) {
      // Counted before the provider reads the body; the body waits in the socket meanwhile. Then a
      // client the Register no longer lists as ACTIVE is refused.
      (isToken ? parts.callerLimits.token(req) : Promise.resolve())
        .then(() => refuseInactiveClient(req, parts.registerStatus))
        .then(
          () => this.handler?.(req, res),
          (error: unknown) => replyWith(res, error, this.#logger),
        );
      return true;
    }
    handle(req, res);
    return true;
  }
}

/** An error met before the provider took the request (a limit, an unreachable database), as JSON. */
function replyWith(res: ServerResponse, error: unknown, logger: Service['logger']): void {
  const rendered = renderError(error, 'oauth');
  logServerError(logger, error, rendered.status);
  res.writeHead(rendered.status, {
    ...rendered.headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(JSON.stringify(rendered.body));
}

function reply(res: ServerResponse, status: number, error: string, description: string): true {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error, error_description: description }));
  return true;
}

/** Bounded metric labels: the known endpoints, everything else as "other". */
function endpointLabel(path: string): string {
  if (path === DISCOVERY_PATH) return 'discovery';
  const route = path.slice(OAUTH_MOUNT.length);
  const known = Object.entries(OAUTH_ROUTES).find(([, value]) => value === route);
  return known ? known[0] : 'other';
}
