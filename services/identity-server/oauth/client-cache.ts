/** How long a loaded CDR client's metadata is reused; a change made through another replica shows within it. */
export const CLIENT_CACHE_MS = 5_000;
const MAX_ENTRIES = 10_000;

/**
 * Briefly remembered `clients` rows of CDR registrations, so the token endpoint does not read the row on
 * every request. Only rows whose authentication proves liveness on every use are kept: CDR clients
 * authenticate with private_key_jwt, and the statement that records the assertion's jti also checks, in
 * the same atomic step, that the client is still registered (replay-detection.ts) — so a deleted client
 * is refused at once on every replica, cache or not. What the cache can delay (by at most
 * `CLIENT_CACHE_MS`, on other replicas) is a metadata change; changes made here evict the entry at once.
 * Key-manager applications (client_secret_basic) are never cached: their row is read on every request.
 */
export class ClientCache<Row> {
  readonly #entries = new Map<string, { row: Row; at: number }>();

  get(clientId: string): Row | undefined {
    const entry = this.#entries.get(clientId);
    if (!entry) return undefined;
    if (Date.now() - entry.at >= CLIENT_CACHE_MS) {
      this.#entries.delete(clientId);
      return undefined;
    }
    return entry.row;
  }

  set(clientId: string, row: Row): void {
    this.#entries.delete(clientId);
    this.#entries.set(clientId, { row, at: Date.now() });
    if (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  /** Forgets a client whose registration changed or was deleted. */
  evict(clientId: string): void {
    this.#entries.delete(clientId);
  }
}
