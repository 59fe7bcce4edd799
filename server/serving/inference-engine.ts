import { Worker } from 'node:worker_threads';
import type { BackendName } from '../../shared/engine/backend.js';
import type { ModelArtifact } from '../store/tfjs-model-json.js';
import type { FromInferenceWorker, ToInferenceWorker } from './inference-protocol.js';
import type { ModelRunner, ModelSignature } from './model-runner.js';

/**
 * Forward passes on a worker thread with its own TensorFlow.js backend, so that the event loop
 * keeps reading, parsing and answering requests while a batch computes: with dynamic batching the
 * next batch fills while this one runs. Inputs are copied into fresh buffers and transferred; the
 * outputs come back transferred. If the thread dies, every pending and later call fails with why.
 */
export class InferenceEngine {
  private nextId = 1;
  private nextKey = 1;
  private readonly pending = new Map<
    number,
    { resolve: (m: FromInferenceWorker) => void; reject: (e: Error) => void }
  >();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: FromInferenceWorker) => {
      if (message.kind === 'ready') return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (this.pending.size === 0) worker.unref();
      waiter?.resolve(message);
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const waiter of this.pending.values()) waiter.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`the inference thread failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`the inference thread exited with code ${code}`)));
    // The thread keeps the process alive only while a call waits for it.
    worker.unref();
  }

  /** Starts the thread on `backend` (the main thread's) and waits until it is ready. */
  static async start(backend: BackendName): Promise<InferenceEngine> {
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
    return new InferenceEngine(worker);
  }

  /** Loads a model version into the thread. */
  async load(artifact: ModelArtifact): Promise<ModelRunner> {
    const key = this.nextKey++;
    const weights = artifact.weights.slice();
    const answer = await this.call(
      { kind: 'load', key, modelTopology: artifact.modelTopology, weightSpecs: artifact.weightSpecs, weights },
      [weights.buffer],
    );
    if (answer.kind !== 'loaded') throw new Error(`unexpected answer to load: ${answer.kind}`);
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
    if (!this.failure) this.worker.postMessage({ kind: 'unload', key } satisfies ToInferenceWorker);
  }

  /** Stops the thread; pending calls fail. */
  async close(): Promise<void> {
    this.failure ??= new Error('the inference engine was closed');
    await this.worker.terminate();
  }

  /** Sends a load or predict (numbered here) and waits for its answer; a 'failed' answer rejects. */
  private call(
    message: WithoutId<Exclude<ToInferenceWorker, { kind: 'unload' }>>,
    transfer: ArrayBuffer[],
  ): Promise<FromInferenceWorker> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<FromInferenceWorker>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    }).then((answer) => {
      if (answer.kind === 'failed') throw new Error(answer.message);
      return answer;
    });
  }
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
