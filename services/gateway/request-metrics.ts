import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The gateway's per-call metrics. Labelled children are kept per API and status: looking one up
 * through prom-client's label hashing on every call costs more than the rest of the bookkeeping.
 */
export class RequestMetrics {
  readonly #requests: Counter;
  readonly #duration: Histogram<'api'>;
  readonly #counters = new Map<string, Counter.Internal>();
  readonly #histograms = new Map<string, Histogram.Internal<'api'>>();

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: 'obkit_gateway_requests_total',
      help: 'Gateway API requests by API and status',
      labelNames: ['api', 'status'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: 'obkit_gateway_request_duration_seconds',
      help: 'Gateway API request duration by API, including the backend',
      labelNames: ['api'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }

  observe(api: string, status: number, seconds: number): void {
    const key = `${api}|${status}`;
    let counter = this.#counters.get(key);
    if (!counter) {
      counter = this.#requests.labels(api, String(status));
      this.#counters.set(key, counter);
    }
    counter.inc();
    let histogram = this.#histograms.get(api);
    if (!histogram) {
      histogram = this.#duration.labels(api);
      this.#histograms.set(api, histogram);
    }
    histogram.observe(seconds);
  }
}
