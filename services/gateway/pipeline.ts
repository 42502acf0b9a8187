import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  AccessDenied,
  InvalidClient,
  OAuthError,
  renderError,
  TemporarilyUnavailable,
} from '../../lib/http/errors.ts';
import { ARRANGEMENT_HEADER, CLIENT_CERTIFICATE_HEADER } from '../../lib/http/forwarded-certificate.ts';
import type { AccessLog } from './access-log.ts';
import { bearerToken } from './authenticate.ts';
import { authorise } from './authorise.ts';
import { inspectClientCertificate } from './client-certificate.ts';
import { type Headers, mediate } from './mediation.ts';
import { forwardHeaders, hasBody, readBody, send, sendError } from './proxy.ts';
import type { PlanLimits } from './rate-limit.ts';
import type { RequestMetrics } from './request-metrics.ts';
import { type Route, route } from './router.ts';
import type { Endpoint, Runtime } from './runtime.ts';
import { subscribe } from './subscribe.ts';
import type { TokenValidator, ValidatedToken } from './tokens.ts';
import type { Upstreams } from './upstream.ts';
import type { SecretVault } from './vault.ts';

export interface PipelineParts {
  /** The compiled snapshot being served, if any. */
  runtime(): Runtime | undefined;
  tokens: TokenValidator;
  limiter: PlanLimits;
  vault: SecretVault;
  upstreams: Upstreams;
  maxRequestBytes: number;
  logger: Logger;
  metrics: RequestMetrics;
  accessLog: AccessLog;
}

/** What the access log and metrics learn about a call as it goes through the steps. */
interface CallRecord {
  api: string;
  clientId: string;
}

/**
 * The request pipeline, one module per step: TLS identity (client-certificate.ts) → route (router.ts) →
 * authenticate (authenticate.ts, tokens.ts) → authorise (authorise.ts) → subscribe/limit (subscribe.ts)
 * → mediate (mediation.ts) → proxy (proxy.ts, upstream.ts); then the access log line and metrics.
 */
export function createPipeline(
  parts: PipelineParts,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const started = performance.now();
    const call: CallRecord = { api: '-', clientId: '-' };
    let status: number;
    try {
      status = await relay(parts, req, res, call);
    } catch (error) {
      status = sendError(res, error, parts.logger);
    }
    const ms = performance.now() - started;
    parts.metrics.observe(call.api, status, ms / 1000);
    parts.accessLog.write({
      method: req.method ?? 'GET',
      path: pathOf(req.url),
      status,
      ms: Math.round(ms * 10) / 10,
      api: call.api,
      clientId: call.clientId,
    });
  };
}

async function relay(
  parts: PipelineParts,
  req: IncomingMessage,
  res: ServerResponse,
  call: CallRecord,
): Promise<number> {
  // Never believe a forwarded certificate from a client (Node lower-cases names: any case is caught).
  delete req.headers[CLIENT_CERTIFICATE_HEADER];
  delete req.headers[ARRANGEMENT_HEADER];
  const verdict = inspectClientCertificate(req.socket as TLSSocket);
  if (verdict.kind !== 'trusted') throw new InvalidClient('a trusted client certificate is required');
  const current = parts.runtime();
  if (!current) throw new TemporarilyUnavailable('the gateway has no configuration yet', 5);
  const method = req.method ?? 'GET';
  const matched = route(current, req.headers.host, method, req.url ?? '/');
  const { api, operation } = matched;
  call.api = api.api.name;

  let token: ValidatedToken | undefined;
  let endpoint: Endpoint | null = api.production;
  if (operation.secured) {
    const raw = bearerToken(req.headers, api.authorizationHeader);
    // A token seen before is answered from the cache without a trip through the event loop.
    const validated = parts.tokens.cached(raw) ?? (await parts.tokens.validate(raw, current));
    token = authorise(matched, validated, verdict.identity);
    call.clientId = token.clientId;
    endpoint = subscribe(current, matched, token, parts.limiter);
  }
  if (!endpoint) throw new AccessDenied(`${api.api.name} has no endpoint for this key type`);

  const body = hasBody(req) ? await readBody(req, parts.maxRequestBytes) : undefined;
  const headers = forwardHeaders(req, operation.secured ? api.authorizationHeader : undefined);
  const properties = mediateRequest(parts, matched, headers, token);
  // Set last, after mediation: the backend sees exactly the certificate this connection verified.
  headers[CLIENT_CERTIFICATE_HEADER] = verdict.identity.headerValue;
  // Likewise the arrangement: only the one the validated token carries, never a client's or mediation's.
  const arrangementId = token?.claims.cdr_arrangement_id;
  if (typeof arrangementId === 'string') headers[ARRANGEMENT_HEADER] = arrangementId;
  else delete headers[ARRANGEMENT_HEADER];
  return proxy(parts, res, { matched, endpoint, method, headers, body, properties });
}

/** Step 5: the operation's request mediation; returns its properties for the response and fault steps. */
function mediateRequest(
  parts: PipelineParts,
  { operation }: Route,
  headers: Headers,
  token: ValidatedToken | undefined,
): Map<string, string> | undefined {
  if (!operation.request.length && !operation.response.length && !operation.fault.length) return undefined;
  const properties = new Map<string, string>();
  if (token) {
    properties.set('api.ut.consumerKey', token.clientId);
    if (token.subject) properties.set('api.ut.userName', token.subject);
  }
  mediate(operation.request, headers, properties, parts.vault);
  return properties;
}

interface BackendCall {
  matched: Route;
  endpoint: Endpoint;
  method: string;
  headers: Headers;
  body: Buffer | undefined;
  properties: Map<string, string> | undefined;
}

/** Step 6: the call to the backend, its answer through the response (or fault) mediation. */
async function proxy(parts: PipelineParts, res: ServerResponse, call: BackendCall): Promise<number> {
  const { operation } = call.matched;
  let response: Awaited<ReturnType<Upstreams['send']>>;
  try {
    response = await parts.upstreams.send(
      call.endpoint.origin,
      call.endpoint.basePath + call.matched.resourcePath,
      call.method,
      call.headers as IncomingHttpHeaders,
      call.body,
    );
  } catch (error) {
    if (!(error instanceof OAuthError) || !operation.fault.length) throw error;
    const rendered = renderError(error);
    const faultHeaders: Headers = { ...rendered.headers, 'content-type': 'application/json' };
    mediate(operation.fault, faultHeaders, call.properties ?? new Map(), parts.vault);
    return send(res, rendered.status, faultHeaders, Buffer.from(JSON.stringify(rendered.body)));
  }
  if (operation.response.length) {
    mediate(operation.response, response.headers, call.properties ?? new Map(), parts.vault);
  }
  return send(res, response.status, response.headers, response.body);
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
