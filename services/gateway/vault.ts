import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OAuthError } from '../../lib/http/errors.ts';

/** Least time between two reads of one alias: a rotated Secret is picked up within it, no restart. */
const REREAD_MS = 10_000;

/** The secret store has no value for an alias a sequence looks up: a deployment fault, never the caller's. */
export class VaultAliasMissing extends OAuthError {
  constructor() {
    super(500, 'server_error', 'the gateway could not complete the request mediation');
  }
}

/**
 * The gateway's side of WSO2's secure vault: `wso2:vault-lookup('<alias>')` in a mediation sequence
 * resolves here, from the gateway's own secret store — a directory with one file per alias
 * (`obkit.vault_dir`: `<state_dir>/vault` locally, a Kubernetes Secret mounted as a volume in the chart).
 * So a sequence, the api-manager database and the gateway's snapshot name the alias, never the secret.
 * Values are never logged.
 */
export class SecretVault {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #entries = new Map<string, { value: string | undefined; readAt: number }>();

  constructor(dir: string, logger: Logger) {
    this.#dir = dir;
    this.#logger = logger;
  }

  /** The alias's value (one trailing newline dropped, as editors and `kubectl create secret` leave one). */
  lookup(alias: string): string {
    const now = Date.now();
    let entry = this.#entries.get(alias);
    if (!entry || now - entry.readAt >= REREAD_MS) {
      entry = { value: this.#read(alias), readAt: now };
      this.#entries.set(alias, entry);
    }
    if (entry.value === undefined) throw new VaultAliasMissing();
    return entry.value;
  }

  /** Logs, once per snapshot, each alias a sequence uses that the store does not hold. */
  checkAliases(aliases: Iterable<string>): void {
    for (const alias of new Set(aliases)) {
      this.#entries.delete(alias);
      try {
        this.lookup(alias);
      } catch {
        // Logged by #read.
      }
    }
  }

  #read(alias: string): string | undefined {
    const file = join(this.#dir, alias);
    try {
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (value !== '') return value;
      this.#logger.error({ alias, file }, 'the secret vault entry is empty');
    } catch (error) {
      this.#logger.error(
        { alias, file, code: (error as NodeJS.ErrnoException).code },
        'a mediation sequence looks up an alias the secret vault does not hold',
      );
    }
    return undefined;
  }
}
