import { EventEmitter } from 'node:events';

/**
 * Wakes the gateways' long polls (api-manager's snapshot, the identity server's revocations) when this
 * replica changes what they serve. Other replicas' changes are picked up by each feed's periodic
 * re-check of the database, so several replicas stay correct.
 */
export class ChangeNotifier {
  readonly #events = new EventEmitter();
  #version = 0;

  constructor() {
    this.#events.setMaxListeners(0);
  }

  /** Counts changes: read it before looking at the state, and hand it to `next`. */
  get version(): number {
    return this.#version;
  }

  changed(): void {
    this.#version++;
    this.#events.emit('change');
  }

  /**
   * Resolves on the next change or after `ms`, whichever comes first; at once when a change happened
   * since `seen` (so a change made while the caller was reading the state is not slept through).
   */
  next(ms: number, signal?: AbortSignal, seen = this.#version): Promise<void> {
    if (seen !== this.#version) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#events.off('change', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#events.once('change', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
