import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, serviceUrl } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';
import { createMockRegister, ProductionModeError } from './server.ts';

/**
 * `node services/mock-register/main.ts [--config FILE]`: the sandbox CDR Register. Configuration from
 * the TOML file (or env OBKIT_CONFIG) and environment overrides; refuses to start in production mode.
 */
// Everything this process writes under the state directory (data, keys, snapshots) is owner-only.
ownerOnlyFiles();

const { values } = parseArgs({ options: { config: { type: 'string' } } });

try {
  const config = loadConfig({ file: values.config });
  const register = await createMockRegister(config);
  register.service.logger.info(
    {
      url: register.url,
      port: register.port,
      management: serviceUrl(config.obkit.hostname, register.service.managementPort),
    },
    'mock-register listening',
  );
  handleShutdown(register.service.logger, () => register.close(), config.obkit.shutdown_grace_seconds);
} catch (error) {
  if (error instanceof ConfigError || error instanceof ProductionModeError) {
    console.error(`mock-register: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
