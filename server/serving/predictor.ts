import { BatchScheduler, type BatchingOptions, type SchedulerClock } from './batch-scheduler.js';
import type { ServedModel } from './served-model.js';

/** How the predict routes turn inputs into outputs: one forward pass per request, or batched across requests. */
export interface Predictor {
  /** Outputs of n instances (n * featureSize values in x); rejects with QueueFullError when overloaded. */
  predict(model: ServedModel, x: Float32Array, n: number): Promise<Float32Array>;
}

/** The batch queue of the version is full: the request was not taken. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/** Called once per forward pass with its version and number of instances. */
export type BatchObserver = (version: number, instances: number) => void;

/** Every request runs its own forward pass, in arrival order of the event loop. */
export class DirectPredictor implements Predictor {
  constructor(private readonly observe: BatchObserver = () => {}) {}

  async predict(model: ServedModel, x: Float32Array, n: number): Promise<Float32Array> {
    const y = await model.predict(x, n);
    this.observe(model.version, n);
    return y;
  }
}

interface PendingPredict {
  readonly size: number;
  readonly x: Float32Array;
  readonly release: () => void;
  resolve(y: Float32Array): void;
  reject(e: unknown): void;
}

export const nodeSchedulerClock: SchedulerClock = {
  nowMicros: () => performance.now() * 1000,
  setTimer: (delayMicros, fn) => {
    // setTimeout counts whole milliseconds: round up so a batch never runs before its timeout.
    const timer = setTimeout(fn, Math.ceil(delayMicros / 1000));
    return () => clearTimeout(timer);
  },
  defer: (fn) => setImmediate(fn),
};

/**
 * Requests for the same model version wait in a BatchScheduler queue and run as one forward pass;
 * each gets its slice of the outputs. A queued request keeps its version loaded (ServedModel.reserve).
 */
export class BatchingPredictor implements Predictor {
  private readonly scheduler: BatchScheduler<ServedModel, PendingPredict>;

  constructor(
    options: BatchingOptions,
    private readonly observe: BatchObserver = () => {},
    clock: SchedulerClock = nodeSchedulerClock,
  ) {
    this.scheduler = new BatchScheduler(options, clock, (model, tasks, size) => this.runBatch(model, tasks, size));
  }

  predict(model: ServedModel, x: Float32Array, n: number): Promise<Float32Array> {
    if (x.length !== n * model.featureSize)
      return Promise.reject(new Error(`predict got ${x.length} values for ${n} instances of ${model.featureSize}`));
    return new Promise((resolve, reject) => {
      const release = model.reserve();
      if (!this.scheduler.submit(model, { size: n, x, release, resolve, reject })) {
        release();
        const { batches, instances } = this.scheduler.queued(model);
        reject(
          new QueueFullError(
            `the batch queue of version ${model.version} is full (${batches} batches, ${instances} instances waiting)`,
          ),
        );
      }
    });
  }

  private async runBatch(model: ServedModel, tasks: PendingPredict[], size: number): Promise<void> {
    try {
      const x = tasks.length === 1 ? tasks[0].x : concat(tasks, size * model.featureSize);
      const y = await model.predict(x, size);
      this.observe(model.version, size);
      let offset = 0;
      for (const t of tasks) {
        t.resolve(y.subarray(offset, offset + t.size * model.outputSize));
        offset += t.size * model.outputSize;
      }
    } catch (e) {
      for (const t of tasks) t.reject(e);
    } finally {
      for (const t of tasks) t.release();
    }
  }
}

function concat(tasks: readonly PendingPredict[], length: number): Float32Array {
  const x = new Float32Array(length);
  let offset = 0;
  for (const t of tasks) {
    x.set(t.x, offset);
    offset += t.x.length;
  }
  return x;
}
