#!/usr/bin/env node
// The gateway process: `node services/gateway/main.ts [--config FILE]`.
import { accessSync, constants } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../lib/config/index.ts';
import { handleShutdown } from '../../lib/http/service.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';
import { createGateway } from './server.ts';

// Everything this process writes under the state directory (data, keys, snapshots) is owner-only.
ownerOnlyFiles();

const { values } = parseArgs({ options: { config: { type: 'string' } } });

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ file: values.config });
  if (!config.obkit.api_manager.url) {
    throw new ConfigError('obkit.api_manager.url', 'the gateway needs api-manager to pull its snapshot from');
  }
  for (const key of [
    'certificate',
    'private_key',
    'truststore',
    'internal_client_certificate',
    'internal_client_key',
  ] as const) {
    const file = config.obkit.tls[key];
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new ConfigError(`obkit.tls.${key}`, `cannot read ${file}`);
    }
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `gateway: ${(error as Error).message}`);
  process.exit(2);
}

try {
  const gateway = await createGateway(config);
  handleShutdown(gateway.service.logger, () => gateway.close(), config.obkit.shutdown_grace_seconds);
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `gateway: ${(error as Error).message}`);
  process.exit(error instanceof ConfigError ? 2 : 1);
}
