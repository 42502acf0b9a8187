#!/usr/bin/env node
// `obkit up`'s embedded database: one PGlite cluster in the state directory, served over the PostgreSQL
// protocol on a Unix socket to every local service (`node services/embedded-database/main.ts [--config FILE]`).
import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, embeddedDatabaseOf, loadConfig } from '../../lib/config/index.ts';
import { createLogger } from '../../lib/http/logger.ts';
import { ownerOnlyFiles } from '../../lib/process/owner-only.ts';
import { stopWithSupervisor } from '../../lib/process/supervised.ts';
import { servePglite } from '../../lib/storage/pglite-server.ts';
import { openPgliteCluster } from '../../lib/storage/pglite-template.ts';

// Everything this process writes under the state directory (data, keys, snapshots) is owner-only.
ownerOnlyFiles();

/** sun_path of a Unix socket holds 107 bytes and a terminating NUL. */
const MAX_SOCKET_PATH = 107;

const { values } = parseArgs({ options: { config: { type: 'string' } } });
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({ file: values.config });
  const { socketPath } = embeddedDatabaseOf(config);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new ConfigError(
      'obkit.state_dir',
      `the database socket ${socketPath} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket path may have: use a shorter state directory`,
    );
  }
} catch (error) {
  console.error(
    error instanceof ConfigError ? error.message : `embedded-database: ${(error as Error).message}`,
  );
  process.exit(2);
}

const logger = createLogger('embedded-database', config.obkit.log_level);
const { dataDir, socketPath } = embeddedDatabaseOf(config);
await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
await chmod(dirname(socketPath), 0o700);
const db = await openPgliteCluster(dataDir);
const server = await servePglite(db, {
  socketPath,
  onError: (error, context) => logger.error({ err: error }, context),
});
logger.info({ socketPath, dataDir }, 'embedded database ready');

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // Clients are cut off first, so PGlite closes with no statement in flight and a clean checkpoint.
  await server.close();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
stopWithSupervisor();
