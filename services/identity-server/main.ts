import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig, requireAdminPassword } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { ensureSandboxPki } from '../../lib/pki/index.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';

/**
 * `node services/identity-server/main.ts [--config FILE]` (or OBKIT_CONFIG). Refuses to start on bad
 * configuration with one line naming the key (exit 2); stops gracefully on SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  // Everything this process writes under the state directory (data, keys) is owner-only.
  ownerOnlyFiles();
  const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
  let config: Config;
  try {
    config = loadConfig({ file: values.config });
    checkIdentityServerConfig(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`obkit identity-server: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  // Sandbox: a first local start generates the PKI under the state directory (`obkit up` does the same).
  if (config.obkit.mode === 'sandbox' && !existsSync(config.obkit.tls.certificate)) {
    await ensureSandboxPki(dirname(config.obkit.tls.certificate), { hostnames: [config.obkit.hostname] });
  }
  // Loaded only once the configuration is known good: a refusal stays one line, with nothing before it.
  const { createIdentityServer } = await import('./server.ts');
  let server: Awaited<ReturnType<typeof createIdentityServer>>;
  try {
    server = await createIdentityServer(config);
  } catch (error) {
    // The encryption key is checked against the database at start: a wrong one is a configuration refusal.
    if (error instanceof ConfigError) {
      process.stderr.write(`obkit identity-server: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  handleShutdown(server.service.logger, () => server.close(), config.obkit.shutdown_grace_seconds);
}

/** What only the identity server needs beyond the shared schema. */
function checkIdentityServerConfig(config: Config): void {
  requireAdminPassword(config);
  if (config.obkit.mode !== 'sandbox' && !config.open_banking.dcr.jwks_url_production) {
    throw new ConfigError(
      'open_banking.dcr.jwks_url_production',
      'required outside sandbox mode (the CDR Register JWKS that verifies software statements)',
    );
  }
  if (config.obkit.mode !== 'sandbox' && !config.obkit.dcr_backend.password) {
    throw new ConfigError(
      'obkit.dcr_backend.password',
      "required outside sandbox mode (the gateway's credential for the DCR backend; set OBKIT_DCR_BACKEND_PASSWORD)",
    );
  }
}

main().catch((error: Error) => {
  process.stderr.write(`obkit identity-server: failed to start: ${error.message}\n`);
  process.exit(1);
});
