import type { Logger } from 'pino';
import type { GatewaySnapshot } from '../../lib/gateway-feed/snapshot.ts';
import { readSnapshotFile, writeSnapshotFile } from './feed.ts';
import type { Revocations } from './revocations.ts';
import { compileSnapshot, type Runtime } from './runtime.ts';
import type { TokenValidator } from './tokens.ts';
import type { SecretVault } from './vault.ts';

export interface ServedSnapshotParts {
  file: string;
  environment: string;
  tokens: TokenValidator;
  revocations: Revocations;
  vault: SecretVault;
  /** New handshakes must see a changed truststore. */
  reloadTls(): void;
  logger: Logger;
}

/**
 * The snapshot the gateway serves, compiled, and its last good copy on disk. Applying one resets what
 * depends on it: cached token results, followed revocation feeds, vault aliases and the TLS truststore.
 */
export class ServedSnapshot {
  #runtime: Runtime | undefined;
  #persisting: Promise<void> = Promise.resolve();
  readonly #parts: ServedSnapshotParts;

  constructor(parts: ServedSnapshotParts) {
    this.#parts = parts;
  }

  get runtime(): Runtime | undefined {
    return this.#runtime;
  }

  /** Serves the copy on disk, if there is one this gateway can compile. */
  async loadFromDisk(): Promise<void> {
    const { file, logger } = this.#parts;
    const onDisk = await readSnapshotFile(file, logger);
    if (!onDisk) return;
    try {
      void this.apply(onDisk, false);
    } catch (error) {
      logger.warn({ err: error }, 'ignoring a disk snapshot this gateway cannot compile');
    }
  }

  /** Serves `snapshot` from now on (throws if it does not compile); `persist` keeps it on disk too. */
  apply(snapshot: GatewaySnapshot, persist: boolean): Promise<void> {
    const { tokens, revocations, vault, logger } = this.#parts;
    const next = compileSnapshot(snapshot, this.#parts.environment);
    const truststoreChanged = next.snapshot.truststorePem !== this.#runtime?.snapshot.truststorePem;
    this.#runtime = next;
    tokens.reset();
    revocations.follow(snapshot.keyManagers);
    vault.checkAliases(next.vaultAliases);
    if (truststoreChanged) this.#parts.reloadTls();
    logger.info({ version: snapshot.version, apis: snapshot.apis.length }, 'gateway snapshot loaded');
    if (persist) {
      this.#persisting = this.#persisting
        .then(() => writeSnapshotFile(this.#parts.file, snapshot))
        .catch((error) => logger.error({ err: error }, 'could not keep the snapshot on disk'));
    }
    return this.#persisting;
  }

  /** The last write to disk, finished. */
  settled(): Promise<void> {
    return this.#persisting;
  }
}
