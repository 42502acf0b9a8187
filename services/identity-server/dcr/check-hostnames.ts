import { InvalidClientMetadata } from '../../../lib/http/errors.ts';
import type { RegistrationContext } from './context.ts';

/** The SSA URIs that `enable_hostname_validation` and `enable_uri_validation` look at. */
export const DESCRIPTIVE_URIS = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri'] as const;

/** `enable_redirect_uri_hostname_validation` (default on): all the SSA's redirect URIs share one host. */
export function checkRedirectUriHostnames(context: RegistrationContext): void {
  if (!context.runtime.deps.config.open_banking_cds.dcr.enable_redirect_uri_hostname_validation) return;
  const hosts = new Set((context.ssa.redirect_uris as string[]).map((uri) => new URL(uri).hostname));
  if (hosts.size > 1) {
    throw new InvalidClientMetadata(
      `redirect URI hostname validation failed: the redirect URIs use several hosts (${[...hosts].join(', ')})`,
    );
  }
}

/** `enable_hostname_validation`: logo/client/policy/tos URIs are served from the redirect URIs' host. */
export function checkUriHostnames(context: RegistrationContext): void {
  if (!context.runtime.deps.config.open_banking_cds.dcr.enable_hostname_validation) return;
  const redirectHosts = new Set((context.ssa.redirect_uris as string[]).map((uri) => new URL(uri).hostname));
  for (const claim of DESCRIPTIVE_URIS) {
    const uri = context.ssa[claim];
    if (typeof uri !== 'string') continue;
    let host: string;
    try {
      host = new URL(uri).hostname;
    } catch {
      throw new InvalidClientMetadata(`hostname validation failed: ${claim} is not a URL`);
    }
    if (!redirectHosts.has(host)) {
      throw new InvalidClientMetadata(
        `hostname validation failed: ${claim} host ${host} differs from the redirect URIs' host`,
      );
    }
  }
}
