import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, serviceUrl } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';
import { createBanking, ProductionModeError } from './server.ts';

/**
 * `node services/banking/main.ts [--config FILE]`: the sandbox CDS Banking data API behind the gateway.
 * Configuration from the TOML file (or env OBKIT_CONFIG) and environment overrides; sandbox mode only.
 */
ownerOnlyFiles();

const { values } = parseArgs({ options: { config: { type: 'string' } } });

try {
  const config = loadConfig({ file: values.config });
  const banking = await createBanking(config);
  banking.service.logger.info(
    { url: banking.url, management: serviceUrl(config.obkit.hostname, banking.service.managementPort) },
    'banking listening',
  );
  handleShutdown(banking.service.logger, () => banking.close(), config.obkit.shutdown_grace_seconds);
} catch (error) {
  if (error instanceof ConfigError || error instanceof ProductionModeError) {
    console.error(`banking: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
