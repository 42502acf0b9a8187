import type { KoaContextWithOIDC } from 'oidc-provider';
import { errorPage } from '../consent/html.ts';

/** The endpoint a browser navigates to (below the mount); every other one is an API and answers JSON. */
const BROWSER_PATH = '/authorize'; // OAUTH_ROUTES.authorization; provider.ts imports this module

/**
 * An authorisation-endpoint error that cannot go back to the recipient's redirect URI (unknown client,
 * bad or used request_uri…): a page for a browser, the OAuth JSON body for anything else. oidc-provider
 * asks for it on any endpoint whose caller accepts HTML (userinfo, token…): those stay JSON.
 */
export function answerAuthorizationError(
  ctx: KoaContextWithOIDC,
  out: { error: string; error_description?: string | undefined },
): void {
  ctx.set('cache-control', 'no-store');
  if (ctx.path === BROWSER_PATH && ctx.accepts('json', 'html') === 'html') {
    ctx.type = 'html';
    ctx.body = errorPage(out.error, out.error_description ?? 'the request is not valid');
    return;
  }
  ctx.type = 'json';
  ctx.body = out;
}
