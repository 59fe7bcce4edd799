import { Histogram, type Registry } from 'prom-client';

/**
 * Prometheus histograms of the predict endpoints, per model and version: how long answered
 * requests took (from the request's arrival to the answer) and how many instances each forward
 * pass ran (1 per request when unbatched).
 */

/** Upper bounds (seconds) of the request-latency buckets. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Upper bounds (instances) of the batch-size buckets. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

type ServedLabels = 'model' | 'version';

export class ServingMetrics {
  private readonly latency: Histogram<ServedLabels>;
  private readonly batchSize: Histogram<ServedLabels>;

  constructor(
    private readonly modelName: string,
    registry: Registry,
  ) {
    this.latency = new Histogram({
      name: 'fedserve_predict_latency_seconds',
      help: 'Wall time of answered predict requests, from arrival to answer.',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.batchSize = new Histogram({
      name: 'fedserve_predict_batch_size',
      help: 'Instances per forward pass (one per request when batching is off).',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers: [registry],
    });
  }

  /** An answered (200) predict request of `version` that took `seconds`. */
  observeRequest(version: number, seconds: number): void {
    this.latency.observe({ model: this.modelName, version: String(version) }, seconds);
  }

  /** One forward pass of `version` over `instances` instances. */
  observeBatch(version: number, instances: number): void {
    this.batchSize.observe({ model: this.modelName, version: String(version) }, instances);
  }
}
