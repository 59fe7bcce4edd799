import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { featureSize } from '../shared/data/dataset.js';
import type { BackendName } from '../shared/engine/backend.js';
import { startWorker } from './start-worker.js';
import type { FromWorker, ToWorker, TrainJob, TrainOutcome, WorkerSetup } from './trainer-protocol.js';

export type { ModelSpec, TrainJob, TrainOutcome } from './trainer-protocol.js';

export interface TrainerPoolOptions {
  /** Worker threads; default: the number of cores. */
  size?: number;
  /** Backend preference for every worker (FEDSERVE_BACKEND still overrides it); default: best. */
  backend?: BackendName;
}

export interface TrainOptions {
  /** Hand the job's buffers to the worker instead of copying them (they become unusable here). */
  transfer?: boolean;
}

interface Pending {
  id: number;
  message: ToWorker;
  transfer: ArrayBuffer[];
  resolve: (outcome: TrainOutcome) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Settles when the worker has started its backend. */
  ready: Promise<BackendName>;
  started: boolean;
  running?: Pending;
}

function checkJob(job: TrainJob): void {
  if (!(job.weights instanceof Float32Array)) throw new Error('train job weights must be a Float32Array');
  const { data } = job;
  if (!(data.x instanceof Float32Array) || !(data.y instanceof Int32Array)) {
    throw new Error('train job data must hold a Float32Array x and an Int32Array y');
  }
  if (data.y.length !== data.n || data.x.length !== data.n * featureSize(data)) {
    throw new Error(
      `train job data holds ${data.x.length} features and ${data.y.length} labels for n=${data.n} examples of shape [${data.inputShape.join(',')}]`,
    );
  }
  const { epochs, batchSize } = job.config;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`epochs must be a positive integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
}

/**
 * Trains several clients' jobs in parallel, one per worker thread, so simulations and the demo use
 * every core (each wasm backend is single-threaded). Weights and data travel as binary buffers;
 * results come back transferred, not copied.
 */
export class TrainerPool {
  readonly size: number;
  private readonly backend: BackendName | undefined;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: TrainerPoolOptions = {}) {
    const size = opts.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`TrainerPool size must be a positive integer, got ${size}`);
    this.size = size;
    this.backend = opts.backend;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** The backend each worker started (resolves once all are ready). */
  backends(): Promise<BackendName[]> {
    return Promise.all(this.slots.map((s) => s.ready));
  }

  train(job: TrainJob, opts: TrainOptions = {}): Promise<TrainOutcome> {
    if (this.closed) return Promise.reject(new Error('TrainerPool is closed'));
    try {
      checkJob(job);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const id = this.nextId++;
    const transfer = opts.transfer ? [...new Set([job.weights.buffer, job.data.x.buffer, job.data.y.buffer])] : [];
    return new Promise<TrainOutcome>((resolve, reject) => {
      this.queue.push({
        id,
        message: { kind: 'train', id, job },
        transfer: transfer as ArrayBuffer[],
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  /** Stops every worker; running and queued jobs are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Error('TrainerPool closed before the job finished');
    for (const p of this.queue.splice(0)) p.reject(stopped);
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.running?.reject(stopped);
        slot.running = undefined;
        await slot.worker.terminate();
      }),
    );
  }

  private spawn(): Slot {
    const worker = startWorker(import.meta.url, 'trainer-worker', { backend: this.backend } satisfies WorkerSetup);
    let markReady: (b: BackendName) => void = () => {};
    let failStart: (e: Error) => void = () => {};
    const ready = new Promise<BackendName>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    // A worker that dies before anyone asked for backends() must not cause an unhandled rejection.
    ready.catch(() => {});
    const slot: Slot = { worker, ready, started: false };
    worker.on('message', (message: FromWorker) => {
      if (message.kind === 'ready') {
        slot.started = true;
        markReady(message.backend);
        this.dispatch();
      } else {
        this.onResult(slot, message);
      }
    });
    worker.on('error', (err) => this.onExit(slot, err, failStart));
    worker.on('exit', (code) => this.onExit(slot, new Error(`trainer worker exited with code ${code}`), failStart));
    return slot;
  }

  private onResult(slot: Slot, message: Exclude<FromWorker, { kind: 'ready' }>): void {
    const job = slot.running;
    if (!job || job.id !== message.id) return;
    slot.running = undefined;
    switch (message.kind) {
      case 'done':
        job.resolve(message.outcome);
        break;
      case 'failed':
        job.reject(new Error(`training failed in worker: ${message.message}`));
        break;
      default: {
        const never: never = message;
        throw new Error(`unexpected worker message ${JSON.stringify(never)}`);
      }
    }
    this.dispatch();
  }

  /** A worker that crashes mid-job fails that job and is replaced, so the pool keeps its size. */
  private onExit(slot: Slot, err: Error, failStart: (e: Error) => void): void {
    const index = this.slots.indexOf(slot);
    if (this.closed || index < 0) return;
    failStart(err);
    slot.running?.reject(new Error(`trainer worker died: ${err.message}`));
    slot.running = undefined;
    void slot.worker.terminate();
    if (slot.started) {
      this.slots[index] = this.spawn();
      return;
    }
    // It never started (e.g. its backend failed): respawning would loop, so the pool shrinks.
    this.slots.splice(index, 1);
    if (this.slots.length === 0) {
      for (const p of this.queue.splice(0)) p.reject(new Error(`no trainer worker could start: ${err.message}`));
    }
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.closed || this.queue.length === 0) return;
      if (!slot.started || slot.running) continue;
      const job = this.queue.shift()!;
      slot.running = job;
      slot.worker.postMessage(job.message, job.transfer);
    }
  }
}
