import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { errorBody, logServerError, type RenderedError, renderError } from '../../../lib/http/errors.ts';

/** The methods each mounted endpoint answers (paths under the mount, as the provider registers them). */
export type EndpointMethods = Readonly<Record<string, readonly string[]>>;

/**
 * The outermost provider middleware: whatever happens under `/oauth2`, the answer is JSON in the OAuth
 * shape. A path the provider does not serve is 404, a served path with another method 405 + `Allow`
 * (Koa would answer both with a plain-text 404), and an error that escapes the provider's own error
 * handling (e.g. a database failure in a middleware around it) is rendered by the service's renderer.
 */
export function jsonErrors(endpoints: EndpointMethods, logger: Logger) {
  // oidc-provider matches paths case-insensitively and ignores one trailing slash; so does this table.
  const methodsOf = new Map(
    Object.entries(endpoints).map(([path, methods]) => [path.toUpperCase(), methods]),
  );
  return async function answerInJson(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
    try {
      await next();
    } catch (error) {
      const rendered = renderError(error);
      logServerError(logger, error, rendered.status);
      apply(ctx, rendered);
      return;
    }
    if (ctx.status !== 404 || ctx.body != null) return;
    const path = ctx.path.length > 1 ? ctx.path.replace(/\/$/, '') : ctx.path;
    const allowed = methodsOf.get(path.toUpperCase());
    if (allowed) {
      apply(ctx, {
        status: 405,
        headers: { allow: allowed.join(', ') },
        body: errorBody('oauth', 405, `${ctx.method} is not allowed here; allowed: ${allowed.join(', ')}`),
      });
      return;
    }
    const requested = (ctx.req as { originalUrl?: string }).originalUrl ?? ctx.originalUrl;
    const description = `no resource at ${ctx.method} ${requested.split('?')[0]}`;
    apply(ctx, { status: 404, headers: {}, body: errorBody('oauth', 404, description) });
  };
}

/**
 * The provider turns any error it does not know into `server_error` 500. Errors the service renderer
 * knows better (database unavailable → 503 + Retry-After, unstorable input → 400) are answered as such;
 * the event comes before the response is written.
 */
export function answerKnownServerError(ctx: KoaContextWithOIDC, error: unknown, logger: Logger): void {
  const rendered = renderError(error);
  logServerError(logger, error, rendered.status);
  if (rendered.status !== 500) apply(ctx, rendered);
}

function apply(ctx: KoaContextWithOIDC, rendered: RenderedError): void {
  ctx.status = rendered.status;
  ctx.set(rendered.headers);
  ctx.set('cache-control', 'no-store');
  ctx.body = rendered.body;
}
