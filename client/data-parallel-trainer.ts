import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { Dataset } from '../shared/data/dataset.js';
import { isBackendName, type BackendName } from '../shared/engine/backend.js';
import { getFlatWeights, setFlatWeights } from '../shared/model/weights.js';
import { permutation, seededRng } from '../shared/random.js';
import { trainLocal, type ProgressFn, type TrainConfig, type TrainResult } from '../shared/training.js';
import type { FromReplica, ReplicaSetup, ToReplica } from './data-parallel-protocol.js';
import { startWorker } from './start-worker.js';

/**
 * Default thread count: every core, up to 4. Beyond that a 32-example batch splits into shards of
 * fewer than 8 examples, where the per-step gradient exchange outweighs the arithmetic it spreads.
 */
export function defaultTrainingThreads(): number {
  return Math.min(availableParallelism(), 4);
}

export interface DataParallelOptions {
  /** Worker threads sharing each batch; 1 trains in this thread. */
  threads: number;
  /** Receives one line when the trainer falls back to this thread. */
  log?: (line: string) => void;
  /** Starts one replica thread; default: a node:worker_threads Worker running data-parallel-worker. */
  spawn?: (setup: ReplicaSetup) => Worker;
}

/** A replica thread and the messages it sent that nobody has taken yet. */
class Replica {
  private readonly inbox: FromReplica[] = [];
  private waiting: { resolve: (m: FromReplica) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;

  constructor(readonly worker: Worker) {
    worker.on('message', (message: FromReplica) => {
      if (message.kind === 'failed') {
        this.die(new Error(`training replica failed: ${message.message}`));
        return;
      }
      if (this.waiting) {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve(message);
      } else this.inbox.push(message);
    });
    worker.on('error', (err) => this.die(err));
    worker.on('exit', (code) => this.die(new Error(`training replica exited with code ${code}`)));
  }

  post(message: ToReplica, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  /** The next message of the expected kind; rejects when the replica fails or sends another kind. */
  async next<K extends FromReplica['kind']>(kind: K): Promise<Extract<FromReplica, { kind: K }>> {
    const message =
      this.inbox.shift() ??
      (await new Promise<FromReplica>((resolve, reject) => {
        if (this.error) {
          reject(this.error);
          return;
        }
        this.waiting = { resolve, reject };
      }));
    if (message.kind !== kind) throw new Error(`training replica sent '${message.kind}', expected '${kind}'`);
    return message as Extract<FromReplica, { kind: K }>;
  }

  private die(err: Error): void {
    this.error ??= err;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(this.error);
  }
}

function sharedCopy<T extends Float32Array | Int32Array>(a: T, make: (b: SharedArrayBuffer) => T): T {
  const copy = make(new SharedArrayBuffer(a.byteLength));
  copy.set(a);
  return copy;
}

/** Example counts of `parts` contiguous shards of `count` examples, differing by at most one. */
function shardSizes(count: number, parts: number): number[] {
  const k = Math.min(parts, count);
  return Array.from({ length: k }, (_, i) => Math.floor(((i + 1) * count) / k) - Math.floor((i * count) / k));
}

/**
 * Data-parallel local training inside one client: each batch is split across worker threads (one
 * wasm backend each, itself single-threaded), their gradients are averaged weighted by shard size,
 * and every replica applies that same gradient with its own optimizer, so the replicas never drift
 * and the result equals trainLocal's on one thread up to float rounding. Only gradients travel, as
 * transferred Float32Arrays; the data is shared memory. Falls back to trainLocal in this thread
 * when threads is 1, the backend is native TensorFlow (already multi-threaded), or no worker starts.
 */
export class DataParallelTrainer {
  /** The data the replicas share, as given (to notice other data) and as their shared copy. */
  private data: { given: Dataset; shared: ReplicaSetup } | undefined;
  private replicas: Promise<Replica[] | undefined> | undefined;
  private fallback: string | undefined;

  constructor(private readonly opts: DataParallelOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1)
      throw new Error(`training threads must be a positive integer, got ${opts.threads}`);
  }

  /** How many threads training on `data` uses (starting the workers if needed): 1 after a fallback. */
  async threads(data: Dataset): Promise<number> {
    return (await this.start(data))?.length ?? 1;
  }

  /**
   * Trains `model` in place, as trainLocal does. The replicas keep a shared copy of `data` between
   * jobs: the same x and y arrays are not copied again (they must not change in between).
   */
  async train(
    model: tf.LayersModel,
    data: Dataset,
    config: TrainConfig,
    onProgress?: ProgressFn,
  ): Promise<TrainResult> {
    const replicas = await this.start(data);
    if (!replicas) return trainLocal(model, data, config, onProgress);
    try {
      return await this.trainOn(replicas, model, data, config, onProgress);
    } catch (err) {
      // A failed or abandoned step leaves replies in flight: the next job starts on fresh replicas.
      await this.stopReplicas();
      throw err;
    }
  }

  /** Stops the worker threads; a later train() starts them again. */
  async close(): Promise<void> {
    await this.stopReplicas();
    this.data = undefined;
  }

  private async stopReplicas(): Promise<void> {
    const replicas = await this.replicas;
    this.replicas = undefined;
    await Promise.all((replicas ?? []).map((r) => r.worker.terminate()));
  }

  private backend(): BackendName | undefined {
    const name = tf.getBackend();
    return isBackendName(name) && name !== 'tensorflow' ? name : undefined;
  }

  private async start(data: Dataset): Promise<Replica[] | undefined> {
    const backend = this.backend();
    if (this.opts.threads === 1 || backend === undefined || this.fallback !== undefined || data.n === 0)
      return undefined;
    if (
      this.data &&
      (this.data.given.x !== data.x || this.data.given.y !== data.y || this.data.shared.backend !== backend)
    ) {
      await this.stopReplicas();
      this.data = undefined;
    }
    this.data ??= {
      given: data,
      shared: {
        backend,
        x: sharedCopy(data.x, (b) => new Float32Array(b)),
        y: sharedCopy(data.y, (b) => new Int32Array(b)),
      },
    };
    this.replicas ??= this.spawnAll(this.data.shared);
    return this.replicas;
  }

  private async spawnAll(setup: ReplicaSetup): Promise<Replica[] | undefined> {
    const spawn = this.opts.spawn ?? ((s: ReplicaSetup) => startWorker(import.meta.url, 'data-parallel-worker', s));
    const replicas: Replica[] = [];
    try {
      for (let i = 0; i < this.opts.threads; i++) replicas.push(new Replica(spawn(setup)));
      await Promise.all(replicas.map((r) => r.next('ready')));
      return replicas;
    } catch (err) {
      await Promise.all(replicas.map((r) => r.worker.terminate()));
      this.fallback = (err as Error).message;
      this.opts.log?.(`training on this thread only: worker threads are unavailable (${this.fallback})`);
      return undefined;
    }
  }

  private async trainOn(
    replicas: Replica[],
    model: tf.LayersModel,
    ds: Dataset,
    cfg: TrainConfig,
    onProgress?: ProgressFn,
  ): Promise<TrainResult> {
    const topology = model.toJSON(undefined, false) as object;
    const start = getFlatWeights(model);
    const shape = { n: ds.n, inputShape: ds.inputShape, numClasses: ds.numClasses };
    for (const r of replicas) r.post({ kind: 'start', topology, weights: start, config: cfg, shape });
    // Same batch order as trainLocal with the same seed.
    const rng = seededRng(cfg.seed ?? 1);
    const batches = Math.ceil(ds.n / cfg.batchSize);
    const totalSteps = batches * cfg.epochs;
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const order = permutation(ds.n, rng);
      const lastEpoch = epoch === cfg.epochs - 1;
      for (let b = 0; b < batches; b++) {
        const from = b * cfg.batchSize;
        const count = Math.min(ds.n, from + cfg.batchSize) - from;
        const sizes = shardSizes(count, replicas.length);
        let offset = from;
        sizes.forEach((size, i) => {
          const indices = order.slice(offset, offset + size);
          offset += size;
          replicas[i].post({ kind: 'gradient', step, indices, scale: size / count }, [indices.buffer]);
        });
        const parts = await Promise.all(sizes.map((_, i) => replicas[i].next('gradient')));
        const gradient = parts[0].gradient;
        for (const part of parts.slice(1)) for (let i = 0; i < gradient.length; i++) gradient[i] += part.gradient[i];
        // The last replica receives the summed buffer itself; the others a copy each.
        replicas.forEach((r, i) => {
          const last = i === replicas.length - 1;
          const g = last ? gradient : gradient.slice();
          r.post({ kind: 'apply', gradient: g }, [g.buffer as ArrayBuffer]);
        });
        const lossValue = parts.reduce((s, p, i) => s + p.loss * sizes[i], 0) / count;
        if (lastEpoch) {
          correct += parts.reduce((s, p) => s + p.correct, 0);
          lossSum += lossValue * count;
          seen += count;
        }
        step++;
        onProgress?.(step, totalSteps, lossValue);
      }
    }
    replicas[0].post({ kind: 'weights' });
    setFlatWeights(model, (await replicas[0].next('weights')).weights);
    return { loss: lossSum / seen, accuracy: correct / seen, numExamples: ds.n };
  }
}
