import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { createMockRegister, ProductionModeError } from './server.ts';

/**
 * `node services/mock-register/main.ts [--config FILE]`: the sandbox CDR Register. Configuration from
 * the TOML file (or env OBKIT_CONFIG) and environment overrides; refuses to start in production mode.
 */
const { values } = parseArgs({ options: { config: { type: 'string' } } });

try {
  const config = loadConfig({ file: values.config });
  const register = await createMockRegister(config);
  register.service.logger.info({ url: register.url, port: register.port }, 'mock-register listening');
  handleShutdown(register.service.logger, () => register.close());
} catch (error) {
  if (error instanceof ConfigError || error instanceof ProductionModeError) {
    console.error(`mock-register: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
