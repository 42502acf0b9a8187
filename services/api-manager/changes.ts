import { EventEmitter } from 'node:events';

/**
 * Wakes long-polling gateways when this replica changes gateway-visible state. Other replicas' changes
 * are picked up by the periodic re-check in the feed, so several api-manager replicas stay correct.
 */
export class ChangeNotifier {
  readonly #events = new EventEmitter();

  constructor() {
    this.#events.setMaxListeners(0);
  }

  changed(): void {
    this.#events.emit('change');
  }

  /** Resolves on the next change or after `ms`, whichever comes first. */
  next(ms: number, signal?: AbortSignal): Promise<void> {
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
