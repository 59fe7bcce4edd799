import { Worker } from 'node:worker_threads';
import type { BackendName } from '../../shared/engine/backend.js';
import type { ModelArtifact } from '../store/tfjs-model-json.js';
import type { FromInferenceWorker, ToInferenceWorker } from './inference-protocol.js';
import type { ModelRunner, ModelSignature } from './model-runner.js';

export interface InferenceEngineOptions {
  /** Told when the thread died, and whether it was restarted (with every loaded model) or given up. */
  onRestart?: (event: RestartEvent) => void;
  /** Restarts allowed within `restartWindowMs`; one more death and every call fails. Default 3. */
  maxRestarts?: number;
  /** Default 60,000. */
  restartWindowMs?: number;
}

export interface RestartEvent {
  /** Why the thread died. */
  reason: string;
  /** Restarts within the window, this one included. */
  restarts: number;
  /** Restarted and every loaded model reloaded; false: the engine gave up (see error). */
  ok: boolean;
  error?: string;
}

type Load = Extract<ToInferenceWorker, { kind: 'load' }>;

/**
 * Forward passes on a worker thread with its own TensorFlow.js backend, so that the event loop
 * keeps reading, parsing and answering requests while a batch computes: with dynamic batching the
 * next batch fills while this one runs. Inputs are copied into fresh buffers and transferred; the
 * outputs come back transferred. If the thread dies (a wasm memory failure, say), the calls it
 * held fail with why, and a new thread starts with every loaded model, so serving goes on; calls
 * made meanwhile wait for it. After too many deaths in a row, every call fails with why.
 */
export class InferenceEngine {
  private nextId = 1;
  private nextKey = 1;
  private readonly pending = new Map<
    number,
    { resolve: (m: FromInferenceWorker) => void; reject: (e: Error) => void }
  >();
  /** What each loaded model was loaded from, to load it again into a restarted thread. */
  private readonly loaded = new Map<number, Omit<Load, 'id' | 'kind' | 'weights'> & { weights: Float32Array }>();
  private failure: Error | null = null;
  private closed = false;
  /** Set while a restarted thread is starting and reloading the models. */
  private restarting: Promise<void> | null = null;
  private readonly deaths: number[] = [];

  private constructor(
    private worker: Worker,
    private readonly backend: BackendName,
    private readonly options: InferenceEngineOptions,
  ) {
    this.attach(worker);
  }

  /** Starts the thread on `backend` (the main thread's) and waits until it is ready. */
  static async start(backend: BackendName, options: InferenceEngineOptions = {}): Promise<InferenceEngine> {
    return new InferenceEngine(await startReady(backend), backend, options);
  }

  /** Loads a model version into the thread. */
  async load(artifact: ModelArtifact): Promise<ModelRunner> {
    const key = this.nextKey++;
    const source = {
      key,
      modelTopology: artifact.modelTopology,
      weightSpecs: artifact.weightSpecs,
      weights: artifact.weights,
    };
    const answer = await this.call(loadMessage(source), []);
    if (answer.kind !== 'loaded') throw new Error(`unexpected answer to load: ${answer.kind}`);
    this.loaded.set(key, source);
    return new WorkerRunner(this, key, answer.signature);
  }

  async predict(key: number, x: Float32Array, n: number, maxBatch: number): Promise<Float32Array> {
    // A copy of exactly the input: x may be a view into a larger buffer that others still use.
    const input = x.slice();
    const answer = await this.call({ kind: 'predict', key, x: input, n, maxBatch }, [input.buffer]);
    if (answer.kind !== 'result') throw new Error(`unexpected answer to predict: ${answer.kind}`);
    return answer.y;
  }

  unload(key: number): void {
    this.loaded.delete(key);
    // A thread that died drops this; the restart does not load the model again (no longer listed).
    if (!this.failure) this.worker.postMessage({ kind: 'unload', key } satisfies ToInferenceWorker);
  }

  /** Stops the thread; pending calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.failure ??= new Error('the inference engine was closed');
    await this.restarting;
    await this.worker.terminate();
  }

  private attach(worker: Worker): void {
    worker.on('message', (message: FromInferenceWorker) => {
      if (message.kind === 'ready') return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      // Once closed, terminate() holds a reference until the thread's exit; an answer that arrives
      // after it must not drop that reference, or the process may end before close() resolves.
      if (this.pending.size === 0 && !this.closed) worker.unref();
      waiter?.resolve(message);
    });
    let dead = false;
    const died = (reason: string) => {
      if (dead) return;
      dead = true;
      this.died(reason);
    };
    worker.on('error', (e) => died(`failed: ${e.message}`));
    worker.on('exit', (code) => died(`exited with code ${code}`));
    // The thread keeps the process alive only while a call waits for it.
    worker.unref();
  }

  private died(reason: string): void {
    const lost = new Error(`the inference thread ${reason}`);
    for (const waiter of this.pending.values()) waiter.reject(this.failure ?? lost);
    this.pending.clear();
    // A thread that dies while a restart reloads the models fails that restart.
    if (this.closed || this.failure || this.restarting) return;
    const now = Date.now();
    const window = this.options.restartWindowMs ?? 60_000;
    while (this.deaths.length > 0 && this.deaths[0] <= now - window) this.deaths.shift();
    this.deaths.push(now);
    const restarts = this.deaths.length;
    const max = this.options.maxRestarts ?? 3;
    if (restarts > max) {
      this.failure = new Error(`${lost.message}, after ${max} restarts within ${window / 1000} s: inference is off`);
      this.options.onRestart?.({ reason, restarts, ok: false, error: this.failure.message });
      return;
    }
    this.restarting = this.restart()
      .then(() => this.options.onRestart?.({ reason, restarts, ok: true }))
      .catch((e: unknown) => {
        this.failure = new Error(`${lost.message}, and could not be restarted: ${(e as Error).message}`);
        this.options.onRestart?.({ reason, restarts, ok: false, error: this.failure.message });
      })
      .finally(() => {
        this.restarting = null;
      });
  }

  /** A new thread, then every model loaded again under its key, before any waiting call goes through. */
  private async restart(): Promise<void> {
    this.worker = await startReady(this.backend);
    this.attach(this.worker);
    for (const source of this.loaded.values()) {
      const answer = await this.post(loadMessage(source), []);
      if (answer.kind === 'failed') throw new Error(`model ${source.key} did not load again: ${answer.message}`);
    }
  }

  /** Sends a load or predict (numbered here) and waits for its answer; a 'failed' answer rejects. */
  private async call(
    message: WithoutId<Exclude<ToInferenceWorker, { kind: 'unload' }>>,
    transfer: ArrayBuffer[],
  ): Promise<FromInferenceWorker> {
    if (this.restarting) await this.restarting;
    if (this.failure) throw this.failure;
    const answer = await this.post(message, transfer);
    if (answer.kind === 'failed') throw new Error(answer.message);
    return answer;
  }

  private post(
    message: WithoutId<Exclude<ToInferenceWorker, { kind: 'unload' }>>,
    transfer: ArrayBuffer[],
  ): Promise<FromInferenceWorker> {
    // Loads transfer a copy of the weights: the originals stay here for a restart.
    const sent = message.kind === 'load' ? { ...message, weights: message.weights.slice() } : message;
    const moved = sent.kind === 'load' ? [sent.weights.buffer] : transfer;
    const id = this.nextId++;
    return new Promise<FromInferenceWorker>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...sent, id }, moved);
    });
  }
}

function loadMessage(source: Omit<Load, 'id' | 'kind'>): WithoutId<Load> {
  return { kind: 'load', ...source };
}

/** A new inference thread, once it says it is ready. */
async function startReady(backend: BackendName): Promise<Worker> {
  const worker = startWorker(backend);
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: FromInferenceWorker) => {
      if (m.kind !== 'ready') return;
      cleanup();
      resolve();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new Error(`the inference thread did not start: ${e.message}`));
    };
    const onExit = (code: number) => onError(new Error(`exited with code ${code}`));
    const cleanup = () => worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
  return worker;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

class WorkerRunner implements ModelRunner {
  constructor(
    private readonly engine: InferenceEngine,
    private readonly key: number,
    readonly signature: ModelSignature,
  ) {}

  predict(x: Float32Array, n: number, maxBatch: number): Promise<Float32Array> {
    return this.engine.predict(this.key, x, n, maxBatch);
  }

  dispose(): void {
    this.engine.unload(this.key);
  }
}

/**
 * This module runs from source under tsx (.ts) or compiled (.js); a .ts worker needs tsx's loader
 * registered inside the worker before its entry is imported (as client/trainer-pool.ts does).
 */
function startWorker(backend: BackendName): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './inference-worker.ts' : './inference-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: { backend } });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: { backend } });
}
