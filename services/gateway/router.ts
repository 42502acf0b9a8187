import { InvalidRequest, MethodNotAllowed, NotFound } from '../../lib/http/errors.ts';
import type { CompiledApi, CompiledOperation, Runtime } from './runtime.ts';

export interface Route {
  api: CompiledApi;
  operation: CompiledOperation;
  /** Path below the API context, with the query string, as the backend receives it after its base path. */
  resourcePath: string;
  /** Path parameter values in template order (still URL-encoded). */
  parameters: string[];
}

/**
 * Finds the deployed operation for a request: vhost (the Host header without port) → API by context
 * prefix → resource template → verb. A path that matches templates but not the verb is a 405 naming
 * the allowed verbs; anything else unknown is a 404.
 */
export function route(runtime: Runtime, host: string | undefined, method: string, url: string): Route {
  const apis = runtime.apisByHost.get(hostnameOf(host));
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  // A backend that normalises `..` would otherwise be reached outside the API's base path.
  if (DOT_SEGMENT.test(path)) throw new InvalidRequest('dot segments are not allowed in the path');
  if (apis) {
    for (const api of apis) {
      const { context } = api;
      if (
        !path.startsWith(context) ||
        (path.length > context.length && path.charCodeAt(context.length) !== 47)
      ) {
        continue;
      }
      const rest = path.length === context.length ? '/' : path.slice(context.length);
      let allowed: string[] | undefined;
      for (const operation of api.operations) {
        const match = operation.pattern.exec(rest);
        if (!match) continue;
        if (operation.verb === method) {
          return {
            api,
            operation,
            resourcePath: queryAt === -1 ? rest : rest + url.slice(queryAt),
            parameters: match.slice(1) as string[],
          };
        }
        allowed ??= [];
        allowed.push(operation.verb);
      }
      if (allowed) throw new MethodNotAllowed([...new Set(allowed)]);
    }
  }
  throw new NotFound(`no API operation at ${method} ${path}`);
}

const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

function hostnameOf(host: string | undefined): string {
  if (!host) return '';
  if (host.charCodeAt(0) === 91) return host.slice(1, host.indexOf(']')).toLowerCase();
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}
