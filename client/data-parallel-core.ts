import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../shared/data/dataset.js';
import { isBackendName, type BackendName } from '../shared/engine/backend.js';
import { getFlatWeights, setFlatWeights } from '../shared/model/weights.js';
import { permutation, seededRng } from '../shared/random.js';
import { trainLocal, type ProgressFn, type TrainConfig, type TrainResult } from '../shared/training.js';
import type { FromReplica, ReplicaSetup, ToReplica } from './data-parallel-protocol.js';
import type { LocalTrainer } from './node-client.js';

/**
 * The platform-free half of data-parallel local training, shared by DataParallelTrainer (Node worker
 * threads) and WebWorkerTrainer (a page's Web Workers): the batch split, the gradient sum and the
 * replica bookkeeping. Each platform only says how to start a replica (a ReplicaChannel).
 */

/** Most threads a client uses unless told otherwise. */
export const MAX_DEFAULT_THREADS = 4;

/**
 * Default thread count for a machine with `cores` cores: every core, up to 4. Beyond that a 32-example
 * batch splits into shards of fewer than 8 examples, where the per-step gradient exchange outweighs
 * the arithmetic it spreads.
 */
export function defaultThreadsFor(cores: number): number {
  return Number.isInteger(cores) && cores >= 1 ? Math.min(cores, MAX_DEFAULT_THREADS) : 1;
}

/** One replica as the platform runs it: a worker thread or a Web Worker. */
export interface ReplicaChannel {
  post(message: ToReplica, transfer: ArrayBuffer[]): void;
  /** Called once: `received` for each message, `failed` when the replica errs or exits. */
  listen(received: (message: FromReplica) => void, failed: (err: Error) => void): void;
  terminate(): Promise<void>;
}

/** Example counts of `parts` contiguous shards of `count` examples, differing by at most one. */
export function shardSizes(count: number, parts: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`a batch needs at least one example, got ${count}`);
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`shards must be a positive integer, got ${parts}`);
  const k = Math.min(parts, count);
  return Array.from({ length: k }, (_, i) => Math.floor(((i + 1) * count) / k) - Math.floor((i * count) / k));
}

/** What a replica reports for its shard of one batch; its gradient is already scaled by shard / batch. */
export interface ShardResult {
  gradient: Float32Array;
  loss: number;
  correct: number;
}

/**
 * The whole batch's gradient, mean loss and correct count from its shards' (`sizes[i]` examples for
 * part i). The gradient is the sum of the scaled shard gradients, written into the first part's array.
 */
export function combineShards(parts: readonly ShardResult[], sizes: readonly number[]): ShardResult {
  if (parts.length === 0 || parts.length !== sizes.length)
    throw new Error(`combining ${parts.length} shard results with ${sizes.length} shard sizes`);
  const gradient = parts[0].gradient;
  for (const part of parts.slice(1)) {
    if (part.gradient.length !== gradient.length)
      throw new Error(`shard gradients differ in length: ${part.gradient.length} vs ${gradient.length}`);
    for (let i = 0; i < gradient.length; i++) gradient[i] += part.gradient[i];
  }
  const count = sizes.reduce((s, n) => s + n, 0);
  return {
    gradient,
    loss: parts.reduce((s, p, i) => s + p.loss * sizes[i], 0) / count,
    correct: parts.reduce((s, p) => s + p.correct, 0),
  };
}

/** A replica and the messages it sent that nobody has taken yet. */
class Replica {
  private readonly inbox: FromReplica[] = [];
  private waiting: { resolve: (m: FromReplica) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;

  constructor(readonly channel: ReplicaChannel) {
    channel.listen(
      (message) => {
        if (message.kind === 'failed') {
          this.die(new Error(`training replica failed: ${message.message}`));
          return;
        }
        if (this.waiting) {
          const { resolve } = this.waiting;
          this.waiting = undefined;
          resolve(message);
        } else this.inbox.push(message);
      },
      (err) => this.die(err),
    );
  }

  post(message: ToReplica, transfer: ArrayBuffer[] = []): void {
    this.channel.post(message, transfer);
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

/** A copy on shared memory where the platform has it (Node; a cross-origin-isolated page), else the array itself. */
function shareable<T extends Float32Array | Int32Array>(a: T, make: (b: SharedArrayBuffer) => T): T {
  if (typeof SharedArrayBuffer !== 'function') return a;
  const copy = make(new SharedArrayBuffer(a.byteLength));
  copy.set(a);
  return copy;
}

export interface DataParallelCoreOptions {
  /** Replicas sharing each batch; 1 trains in this thread. */
  threads: number;
  /** Receives one line when the trainer falls back to this thread. */
  log?: (line: string) => void;
}

export interface ReplicaPlatform {
  /** Starts one replica; may throw when the platform cannot. */
  spawn(): ReplicaChannel;
  /** What the replicas are, for the fallback line: 'worker threads', 'Web Workers'. */
  noun: string;
  /** Passed on to the replicas' setupBackend (browsers). */
  wasmPath?: string;
}

/**
 * Data-parallel local training inside one client: each batch is split across replicas (one wasm
 * backend each, itself single-threaded), their gradients are averaged weighted by shard size, and
 * every replica applies that same gradient with its own optimizer, so the replicas never drift and
 * the result equals trainLocal's on one thread up to float rounding. Only gradients travel, as
 * transferred Float32Arrays; the data goes to each replica once (shared memory where possible).
 * Trains with trainLocal in this thread when threads is 1, the backend is not wasm or cpu (native
 * TensorFlow and WebGL spread each operation already), or no replica starts.
 */
export class DataParallelCore implements LocalTrainer {
  /** The data the replicas hold, as given (to notice other data) and as sent to them. */
  private data: { given: Dataset; setup: ReplicaSetup } | undefined;
  private replicas: Promise<Replica[] | undefined> | undefined;
  private failure: string | undefined;

  constructor(
    private readonly opts: DataParallelCoreOptions,
    private readonly platform: ReplicaPlatform,
  ) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1)
      throw new Error(`training threads must be a positive integer, got ${opts.threads}`);
  }

  /** How many threads training on `data` uses (starting the replicas if needed): 1 after a fallback. */
  async threads(data: Dataset): Promise<number> {
    return (await this.start(data))?.length ?? 1;
  }

  /** Why no replica started, once one failed to; then training stays on this thread. */
  get fallbackReason(): string | undefined {
    return this.failure;
  }

  /**
   * Trains `model` in place, as trainLocal does. The replicas keep their copy of `data` between
   * jobs: the same x and y arrays are not sent again (they must not change in between).
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

  /** Stops the replicas; a later train() starts them again. */
  async close(): Promise<void> {
    await this.stopReplicas();
    this.data = undefined;
  }

  private async stopReplicas(): Promise<void> {
    const replicas = await this.replicas;
    this.replicas = undefined;
    await Promise.all((replicas ?? []).map((r) => r.channel.terminate()));
  }

  private backend(): BackendName | undefined {
    const name = tf.getBackend();
    return isBackendName(name) && name !== 'tensorflow' ? name : undefined;
  }

  private async start(data: Dataset): Promise<Replica[] | undefined> {
    const backend = this.backend();
    if (this.opts.threads === 1 || backend === undefined || this.failure !== undefined || data.n === 0)
      return undefined;
    if (
      this.data &&
      (this.data.given.x !== data.x || this.data.given.y !== data.y || this.data.setup.backend !== backend)
    ) {
      await this.stopReplicas();
      this.data = undefined;
    }
    this.data ??= {
      given: data,
      setup: {
        backend,
        ...(this.platform.wasmPath ? { wasmPath: this.platform.wasmPath } : {}),
        x: shareable(data.x, (b) => new Float32Array(b)),
        y: shareable(data.y, (b) => new Int32Array(b)),
      },
    };
    this.replicas ??= this.spawnAll(this.data.setup);
    return this.replicas;
  }

  private async spawnAll(setup: ReplicaSetup): Promise<Replica[] | undefined> {
    const replicas: Replica[] = [];
    try {
      for (let i = 0; i < this.opts.threads; i++) {
        const replica = new Replica(this.platform.spawn());
        replicas.push(replica);
        replica.post({ kind: 'setup', setup });
      }
      await Promise.all(replicas.map((r) => r.next('ready')));
      return replicas;
    } catch (err) {
      await Promise.all(replicas.map((r) => r.channel.terminate()));
      this.failure = err instanceof Error ? err.message : String(err);
      this.opts.log?.(`training on this thread only: ${this.platform.noun} are unavailable (${this.failure})`);
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
        const batch = combineShards(await Promise.all(sizes.map((_, i) => replicas[i].next('gradient'))), sizes);
        // The last replica receives the summed buffer itself; the others a copy each.
        replicas.forEach((r, i) => {
          const last = i === replicas.length - 1;
          const g = last ? batch.gradient : batch.gradient.slice();
          r.post({ kind: 'apply', gradient: g }, [g.buffer as ArrayBuffer]);
        });
        if (lastEpoch) {
          correct += batch.correct;
          lossSum += batch.loss * count;
          seen += count;
        }
        step++;
        onProgress?.(step, totalSteps, batch.loss);
      }
    }
    replicas[0].post({ kind: 'weights' });
    setFlatWeights(model, (await replicas[0].next('weights')).weights);
    return { loss: lossSum / seen, accuracy: correct / seen, numExamples: ds.n };
  }
}
