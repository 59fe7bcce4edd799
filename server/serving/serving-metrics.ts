/**
 * Prometheus histograms of the predict endpoints, per model and version: how long answered
 * requests took (from the request's arrival to the answer) and how many instances each forward
 * pass ran (1 per request when unbatched). Rendered after the coordinator's own metrics.
 */

/** Upper bounds (seconds) of the request-latency buckets. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Upper bounds (instances) of the batch-size buckets. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    const i = this.bounds.findIndex((le) => value <= le);
    if (i >= 0) this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** Sample lines of this histogram with `labels` (already formatted, without braces). */
  lines(name: string, labels: string): string[] {
    let cumulative = 0;
    const out = this.bounds.map((le, i) => {
      cumulative += this.counts[i];
      return `${name}_bucket{${labels},le="${le}"} ${cumulative}`;
    });
    out.push(
      `${name}_bucket{${labels},le="+Inf"} ${this.count}`,
      `${name}_sum{${labels}} ${this.sum}`,
      `${name}_count{${labels}} ${this.count}`,
    );
    return out;
  }
}

/** Label values are escaped as the exposition format asks. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class ServingMetrics {
  private readonly latency = new Map<number, Histogram>();
  private readonly batches = new Map<number, Histogram>();

  constructor(private readonly modelName: string) {}

  /** An answered (200) predict request of `version` that took `seconds`. */
  observeRequest(version: number, seconds: number): void {
    this.histogram(this.latency, version, LATENCY_BUCKETS).observe(seconds);
  }

  /** One forward pass of `version` over `instances` instances. */
  observeBatch(version: number, instances: number): void {
    this.histogram(this.batches, version, BATCH_BUCKETS).observe(instances);
  }

  render(): string {
    const lines: string[] = [];
    const family = (name: string, help: string, histograms: Map<number, Histogram>) => {
      if (histograms.size === 0) return;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [version, h] of [...histograms].sort((a, b) => a[0] - b[0])) {
        lines.push(...h.lines(name, `model="${labelValue(this.modelName)}",version="${version}"`));
      }
    };
    family(
      'fedserve_predict_latency_seconds',
      'Wall time of answered predict requests, from arrival to answer.',
      this.latency,
    );
    family(
      'fedserve_predict_batch_size',
      'Instances per forward pass (one per request when batching is off).',
      this.batches,
    );
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  private histogram(map: Map<number, Histogram>, version: number, bounds: readonly number[]): Histogram {
    let h = map.get(version);
    if (!h) {
      h = new Histogram(bounds);
      map.set(version, h);
    }
    return h;
  }
}
