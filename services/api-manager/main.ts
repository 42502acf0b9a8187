import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { createApiManager } from './server.ts';

/** `node services/api-manager/main.ts [--config FILE]` (or env OBKIT_CONFIG). */
const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ file: values.config });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`api-manager refuses to start: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
try {
  const manager = await createApiManager(config);
  handleShutdown(manager.service.logger, () => manager.close());
} catch (error) {
  const message = error instanceof ConfigError ? error.message : (error as Error).message;
  console.error(`api-manager failed to start: ${message}`);
  process.exit(1);
}
