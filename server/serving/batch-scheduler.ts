/**
 * Dynamic batching in the manner of TensorFlow Serving's batching session: tasks (predict
 * requests) for the same key (a model version) are collected into batches that run as one
 * forward pass. This module only decides what runs when; it does no I/O and gets time from the
 * injected clock, so its policy is unit-tested without a model or a network.
 *
 * Per key there is a queue of batches; the last may be open (still taking tasks). A batch closes
 * when it holds maxBatchSize instances or when a task does not fit and starts the next one. A task
 * that needs a new batch while the queue already holds maxEnqueuedBatches is refused: the caller
 * answers 503. A single processor runs one batch at a time (the engine is one wasm thread); it
 * takes the head batch of a queue once that batch is closed or its first task has waited
 * batchTimeoutMicros, serving the queues in turn (least recently served first). After each batch
 * the scheduler yields to pending I/O before choosing the next, so requests that arrived during a
 * forward pass join the next batch instead of trailing in batches of one.
 */

export interface BatchingOptions {
  /** Most instances in one batch (one forward pass). A task larger than this runs as a batch of its own. */
  maxBatchSize: number;
  /** How long an open batch waits for more tasks once the processor is free; 0 runs whatever is queued. */
  batchTimeoutMicros: number;
  /** Most batches (open one included) queued per key; a task that needs one more is refused. */
  maxEnqueuedBatches: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatchSize: 64, batchTimeoutMicros: 0, maxEnqueuedBatches: 32 };

export interface SchedulerClock {
  nowMicros(): number;
  /** Calls fn after delayMicros (> 0); returns a function that cancels the call. */
  setTimer(delayMicros: number, fn: () => void): () => void;
  /** Calls fn once the I/O that is ready now has been handled (setImmediate in Node). */
  defer(fn: () => void): void;
}

/** Anything with a number of instances. */
export interface Sized {
  readonly size: number;
}

/**
 * Runs one batch. It must settle every task itself and never reject: the scheduler only learns
 * that the processor is free again.
 */
export type RunBatch<K, T extends Sized> = (key: K, tasks: T[], size: number) => Promise<void>;

interface OpenOrClosedBatch<T> {
  tasks: T[];
  size: number;
  openedAt: number;
  closed: boolean;
}

export function checkBatchingOptions(o: BatchingOptions): void {
  for (const [name, value, min] of [
    ['maxBatchSize', o.maxBatchSize, 1],
    ['batchTimeoutMicros', o.batchTimeoutMicros, 0],
    ['maxEnqueuedBatches', o.maxEnqueuedBatches, 1],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < min)
      throw new Error(`batching ${name} must be an integer >= ${min}, got ${value}`);
  }
}

export class BatchScheduler<K, T extends Sized> {
  /** Map order is service order: the least recently served queue first. Empty queues are dropped. */
  private readonly queues = new Map<K, OpenOrClosedBatch<T>[]>();
  private busy = false;
  private wakePending = false;
  private cancelTimer: (() => void) | null = null;

  constructor(
    private readonly options: BatchingOptions,
    private readonly clock: SchedulerClock,
    private readonly run: RunBatch<K, T>,
  ) {
    checkBatchingOptions(options);
  }

  /** Queues a task; false when the key's queue is full (the task was not taken). */
  submit(key: K, task: T): boolean {
    if (!Number.isSafeInteger(task.size) || task.size < 1)
      throw new Error(`a task needs a positive integer size, got ${task.size}`);
    const { maxBatchSize, maxEnqueuedBatches } = this.options;
    let batches = this.queues.get(key);
    const open = batches?.at(-1);
    if (open && !open.closed && open.size + task.size <= maxBatchSize) {
      open.tasks.push(task);
      open.size += task.size;
      open.closed = open.size >= maxBatchSize;
    } else {
      if (batches && batches.length >= maxEnqueuedBatches) return false;
      if (open) open.closed = true;
      if (!batches) {
        batches = [];
        this.queues.set(key, batches);
      }
      batches.push({
        tasks: [task],
        size: task.size,
        openedAt: this.clock.nowMicros(),
        closed: task.size >= maxBatchSize,
      });
    }
    this.wake();
    return true;
  }

  /** Batches and instances waiting for `key` (not counting a batch that is running). */
  queued(key: K): { batches: number; instances: number } {
    const batches = this.queues.get(key) ?? [];
    return { batches: batches.length, instances: batches.reduce((sum, b) => sum + b.size, 0) };
  }

  private wake(): void {
    if (this.busy || this.wakePending) return;
    this.wakePending = true;
    this.clock.defer(() => {
      this.wakePending = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.busy) return;
    this.cancelTimer?.();
    this.cancelTimer = null;
    const now = this.clock.nowMicros();
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, batches] of this.queues) {
      const head = batches[0];
      const due = head.openedAt + this.options.batchTimeoutMicros;
      if (head.closed || due <= now) {
        this.start(key, batches);
        return;
      }
      earliest = Math.min(earliest, due);
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      this.cancelTimer = this.clock.setTimer(earliest - now, () => {
        this.cancelTimer = null;
        this.dispatch();
      });
    }
  }

  private start(key: K, batches: OpenOrClosedBatch<T>[]): void {
    const batch = batches.shift()!;
    // Re-inserting moves the queue to the back of the service order.
    this.queues.delete(key);
    if (batches.length > 0) this.queues.set(key, batches);
    this.busy = true;
    void this.run(key, batch.tasks, batch.size).finally(() => {
      this.busy = false;
      this.wake();
    });
  }
}
