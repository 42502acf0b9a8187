import type Provider from 'oidc-provider';
import type { Service } from '../../../lib/http/service.ts';
import type { SecretBox } from '../../../lib/secrets/index.ts';
import type { Database } from '../../../lib/storage/index.ts';
import type { ScopeStore } from '../scopes/store.ts';
import type { OAuthMount } from './mount.ts';
import { loadSigningKeys, type SigningKeySet } from './signing-keys.ts';

/** Builds a provider over the given signing keys and scope names (everything else is fixed). */
export type ProviderFactory = (keys: SigningKeySet, scopes: Set<string>) => Provider;

/**
 * The current oidc-provider. Keys and scopes are fixed in a provider instance: when either changed (a
 * rotation, a new scope, here or on another replica) a new provider takes over the mount; requests in
 * flight finish on the old one.
 */
export class ProviderLifecycle {
  #keys: SigningKeySet;
  #scopeNames = new Set<string>();
  #provider: Provider | undefined;
  #build: ProviderFactory | undefined;
  #scopes: ScopeStore | undefined;
  readonly #db: Database;
  readonly #secrets: SecretBox;
  readonly #mount: OAuthMount;
  readonly #logger: Service['logger'];

  constructor(parts: {
    db: Database;
    secrets: SecretBox;
    keys: SigningKeySet;
    mount: OAuthMount;
    logger: Service['logger'];
  }) {
    this.#db = parts.db;
    this.#secrets = parts.secrets;
    this.#keys = parts.keys;
    this.#mount = parts.mount;
    this.#logger = parts.logger;
  }

  get keys(): SigningKeySet {
    return this.#keys;
  }

  get provider(): Provider {
    if (!this.#provider) throw new Error('the OAuth provider has not started');
    return this.#provider;
  }

  /** The first provider, over the scopes as the store holds them now. */
  async start(scopes: ScopeStore, build: ProviderFactory): Promise<void> {
    this.#scopes = scopes;
    this.#build = build;
    this.#scopeNames = await scopes.reload();
    this.#use(build(this.#keys, this.#scopeNames));
  }

  /** Re-reads signing keys and scopes; rebuilds the provider if they changed. */
  async reload(): Promise<void> {
    if (!this.#scopes || !this.#build) return;
    const [keys, scopeNames] = await Promise.all([
      loadSigningKeys(this.#db, this.#secrets, this.#keys),
      this.#scopes.reload(),
    ]);
    const scopesChanged = [...scopeNames].sort().join(' ') !== [...this.#scopeNames].sort().join(' ');
    if (keys.fingerprint === this.#keys.fingerprint && !scopesChanged) return;
    this.#keys = keys;
    this.#scopeNames = scopeNames;
    this.#use(this.#build(keys, scopeNames));
    this.#logger.info({ kids: keys.publicJwks.keys.map((key) => key.kid) }, 'OAuth provider reloaded');
  }

  /** `reload`, its failure logged rather than thrown (timers, scope changes). */
  refresh(): Promise<void> {
    return this.reload().catch((error) => this.#logger.error({ err: error }, 'OAuth provider reload failed'));
  }

  #use(provider: Provider): void {
    this.#provider = provider;
    this.#mount.handler = provider.callback();
  }
}
