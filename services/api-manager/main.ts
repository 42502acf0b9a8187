import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, requireAdminPassword } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';
import { createApiManager } from './server.ts';

/** `node services/api-manager/main.ts [--config FILE]` (or env OBKIT_CONFIG). */
// Everything this process writes under the state directory (data, keys, snapshots) is owner-only.
ownerOnlyFiles();

const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ file: values.config });
  requireAdminPassword(config);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`api-manager refuses to start: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
try {
  const manager = await createApiManager(config);
  handleShutdown(manager.service.logger, () => manager.close(), config.obkit.shutdown_grace_seconds);
} catch (error) {
  // The encryption key is checked against the database at start: a wrong one is a configuration refusal.
  if (error instanceof ConfigError) {
    console.error(`api-manager refuses to start: ${error.message}`);
    process.exit(2);
  }
  console.error(`api-manager failed to start: ${(error as Error).message}`);
  process.exit(1);
}
