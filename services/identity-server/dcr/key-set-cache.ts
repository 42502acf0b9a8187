import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import { OutboundError } from '../../../lib/http/outbound.ts';

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

/**
 * A JWKS could not be obtained and nothing usable is cached. The message is fit for the caller: an
 * OutboundError's message names the URL and keeps addresses and TLS errors for the log.
 */
export class KeySetUnavailable extends Error {
  constructor(url: string, cause: unknown) {
    super(
      cause instanceof OutboundError ? cause.message : `${url}: ${(cause as Error).message ?? String(cause)}`,
    );
    this.name = 'KeySetUnavailable';
  }
}

export interface KeySetCacheOptions {
  /** Fetches and returns the JWKS document at `url` (throws when it cannot). */
  fetch(url: string): Promise<unknown>;
  /** Keys older than this are refreshed before use. */
  maxAgeMs: number;
  /** Least time between two fetches of one URL (refresh after failure, refetch for an unknown `kid`). */
  cooldownMs: number;
  /** Keep verifying with the last good keys when a refresh fails (the Register: an outage must not stop DCR). */
  serveStaleOnError: boolean;
  /** Most URLs remembered; the least recently fetched goes first. */
  maxEntries: number;
}

interface Entry {
  keys: KeyResolver;
  fetchedAt: number;
  /** Last fetch attempt, successful or not (cooldown). */
  attemptedAt: number;
  inflight?: Promise<Entry> | undefined;
}

/**
 * JWKS by URL with a cache: keys are fetched once and reused until `maxAgeMs`; a `kid` that is not in
 * the cached set triggers one refetch (at most once per cooldown), so key rotation is picked up without
 * letting unknown `kid`s turn every request into a fetch. A URL that could not be fetched at all is not
 * tried again within the cooldown either. Concurrent requests share one fetch.
 */
export class KeySetCache {
  readonly #options: KeySetCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #firstFetches = new Map<string, Promise<Entry>>();
  /** URLs never fetched successfully: when the last attempt failed, and how. */
  readonly #failures = new Map<string, { at: number; error: KeySetUnavailable }>();

  constructor(options: KeySetCacheOptions) {
    this.#options = options;
  }

  /** A jose key resolver for the JWKS at `url`. */
  resolver(url: string): (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<ResolvedKey> {
    return (header, token) => this.#resolve(url, header, token);
  }

  async #resolve(url: string, header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> {
    const now = Date.now();
    let entry = this.#entries.get(url);
    const failure = this.#failures.get(url);
    if (!entry && failure && now - failure.at < this.#options.cooldownMs) throw failure.error;
    if (!entry) entry = await this.#fetch(url, undefined);
    else if (
      now - entry.fetchedAt > this.#options.maxAgeMs &&
      now - entry.attemptedAt >= this.#options.cooldownMs
    ) {
      entry = await this.#fetch(url, entry);
    }
    try {
      return await entry.keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (Date.now() - entry.attemptedAt < this.#options.cooldownMs) throw error;
      const refreshed = await this.#fetch(url, entry);
      return refreshed.keys(header, token);
    }
  }

  /** Fetches `url` once for all concurrent callers; on failure falls back to `previous` when allowed. */
  #fetch(url: string, previous: Entry | undefined): Promise<Entry> {
    if (previous?.inflight) return previous.inflight;
    const pending = this.#firstFetches.get(url);
    if (!previous && pending) return pending;
    const attempt = (async () => {
      try {
        const document = await this.#options.fetch(url);
        const entry: Entry = {
          keys: createLocalJWKSet(asKeySet(document)),
          fetchedAt: Date.now(),
          attemptedAt: Date.now(),
        };
        this.#failures.delete(url);
        this.#remember(this.#entries, url, entry);
        return entry;
      } catch (error) {
        if (previous) {
          previous.attemptedAt = Date.now();
          if (this.#options.serveStaleOnError) return previous;
        }
        const unavailable = new KeySetUnavailable(url, error);
        if (!previous) this.#remember(this.#failures, url, { at: Date.now(), error: unavailable });
        throw unavailable;
      } finally {
        if (previous) previous.inflight = undefined;
        this.#firstFetches.delete(url);
      }
    })();
    if (previous) previous.inflight = attempt;
    else this.#firstFetches.set(url, attempt);
    return attempt;
  }

  /** Sets `url` as the newest key of `map`, dropping the oldest beyond `maxEntries`. */
  #remember<T>(map: Map<string, T>, url: string, value: T): void {
    map.delete(url);
    map.set(url, value);
    while (map.size > this.#options.maxEntries) map.delete(map.keys().next().value as string);
  }
}

function asKeySet(document: unknown): JSONWebKeySet {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('the document is not a JWKS (no "keys" array)');
  if (keys.length === 0) throw new Error('the JWKS holds no keys');
  return { keys } as JSONWebKeySet;
}
