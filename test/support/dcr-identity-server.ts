import { join } from 'node:path';
import { type StartedIdentityServer, startIdentityServer } from './identity-server.ts';

export type { StartedIdentityServer };

/**
 * The real identity server (test/support/identity-server.ts) sharing the Register's sandbox PKI: its
 * server certificate, the truststore that holds the recipients' issuing CA, the internal CA of the
 * gateway, and the CA its outbound fetches trust (the Register's and test sites' certificates).
 */
/** `obkit.tls` pointing at the files of a sandbox PKI made by `ensureSandboxPki(pkiDir)`. */
export function sandboxTlsPaths(pkiDir: string) {
  const pki = (name: string) => join(pkiDir, name);
  return {
    certificate: pki('server.pem'),
    private_key: pki('server.key'),
    truststore: pki('truststore.pem'),
    internal_ca: pki('internal-ca.pem'),
    internal_client_certificate: pki('gateway-internal.pem'),
    internal_client_key: pki('gateway-internal.key'),
    outbound_ca: pki('ca.pem'),
  };
}

export async function startIdentityServerForDcr(options: {
  pkiDir: string;
  registerUrl: string;
  overrides: Record<string, unknown>;
  databaseUrl?: string | undefined;
  /** Shared by replicas on one PostgreSQL server (then created and dropped by the caller). */
  schema?: string;
}): Promise<StartedIdentityServer> {
  const overrides = options.overrides as {
    obkit?: Record<string, unknown>;
    open_banking?: Record<string, unknown>;
  };
  const openBanking = (overrides.open_banking ?? {}) as { dcr?: Record<string, unknown> };
  return startIdentityServer({
    databaseUrl: options.databaseUrl,
    ...(options.schema ? { schema: options.schema } : {}),
    overrides: {
      ...overrides,
      obkit: {
        ...overrides.obkit,
        tls: sandboxTlsPaths(options.pkiDir),
      },
      open_banking: {
        ...openBanking,
        dcr: { jwks_url_sandbox: `${options.registerUrl}/cdr-register/v1/jwks`, ...openBanking.dcr },
      },
    },
  });
}
