import * as tf from '@tensorflow/tfjs';
import { CheckpointError, type CheckpointStore } from '../store/checkpoint-store.js';
import type { ModelArtifact } from '../store/tfjs-model-json.js';
import { artifactFromModel, ServedModel } from './served-model.js';

/**
 * What can be published: a Layers model (copied; the caller keeps and may dispose it), bare
 * weights for the current topology, or an artifact such as a Checkpoint (whose round is kept).
 */
export type PublishSource = tf.LayersModel | Float32Array | (ModelArtifact & { round?: number });

export interface ModelRegistryOptions {
  /** Models held in memory, the current one included (at least 1). Default 3. */
  capacity?: number;
  /** Instances per tf.predict call. Default 128. */
  maxBatch?: number;
}

/**
 * The versions that can be served: the current (newest published) one is always in memory;
 * others load lazily from the checkpoint store and are evicted least-recently-used, so memory
 * stays bounded however many rounds have been committed.
 */
export class ModelRegistry {
  private readonly capacity: number;
  private readonly maxBatch: number;
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly loaded = new Map<number, ServedModel>();
  private readonly loading = new Map<number, Promise<ServedModel | null>>();
  private currentModel: ServedModel | null = null;

  constructor(
    private readonly store: CheckpointStore,
    options: ModelRegistryOptions = {},
  ) {
    this.capacity = options.capacity ?? 3;
    this.maxBatch = options.maxBatch ?? 128;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new Error(`capacity must be a positive integer, got ${this.capacity}`);
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${this.maxBatch}`);
  }

  /** The newest published version, or null before the first publish. */
  current(): ServedModel | null {
    return this.currentModel;
  }

  /**
   * Makes `version` servable and, if it is the newest so far, current. Publish a version after
   * store.save() so it can be reloaded once evicted. Republishing a version replaces it.
   */
  async publish(version: number, source: PublishSource, options: { round?: number } = {}): Promise<ServedModel> {
    if (!Number.isSafeInteger(version) || version < 0) throw new Error(`version must be a non-negative integer, got ${version}`);
    let artifact: ModelArtifact;
    let round = options.round ?? null;
    if (source instanceof Float32Array) {
      if (!this.currentModel) throw new Error('cannot publish bare weights before any model: publish a model or checkpoint first');
      const { modelTopology, weightSpecs } = this.currentModel.artifact;
      artifact = { modelTopology, weightSpecs, weights: source.slice() };
    } else if (source instanceof tf.LayersModel) {
      artifact = artifactFromModel(source);
    } else {
      // Copy the weights: the caller may reuse its array for the next round.
      artifact = { modelTopology: source.modelTopology, weightSpecs: source.weightSpecs, weights: source.weights.slice() };
      round ??= source.round ?? null;
    }
    const served = await ServedModel.create(version, round, artifact, this.maxBatch);
    this.loaded.get(version)?.retire();
    this.remember(served);
    if (!this.currentModel || version >= this.currentModel.version) this.currentModel = served;
    this.evict();
    return served;
  }

  /**
   * A version by number, loading it from the store if needed; null if it does not exist.
   * Call predict() on the result without awaiting anything in between (see ServedModel).
   * Throws CheckpointError when the stored version is damaged.
   */
  async get(version: number): Promise<ServedModel | null> {
    const hit = this.loaded.get(version);
    if (hit) {
      this.remember(hit);
      return hit;
    }
    let pending = this.loading.get(version);
    if (!pending) {
      pending = this.loadFromStore(version).finally(() => this.loading.delete(version));
      this.loading.set(version, pending);
    }
    return pending;
  }

  /** Every servable version, ascending: those in the store plus those published in memory. */
  async versions(): Promise<number[]> {
    const all = new Set([...(await this.store.versions()), ...this.loaded.keys()]);
    return [...all].sort((a, b) => a - b);
  }

  /** Versions currently held in memory, least recently used first. */
  loadedVersions(): number[] {
    return [...this.loaded.keys()];
  }

  /** Unloads every model; the registry is empty afterwards. */
  dispose(): void {
    for (const m of this.loaded.values()) m.retire();
    this.loaded.clear();
    this.currentModel = null;
  }

  private async loadFromStore(version: number): Promise<ServedModel | null> {
    let checkpoint;
    try {
      checkpoint = await this.store.load(version);
    } catch (e) {
      if (e instanceof CheckpointError && e.kind === 'missing') return null;
      throw e;
    }
    const served = await ServedModel.create(version, checkpoint.round, checkpoint, this.maxBatch);
    // A publish of the same version may have landed while we were loading: it wins.
    const raced = this.loaded.get(version);
    if (raced) {
      served.retire();
      return raced;
    }
    this.remember(served);
    this.evict();
    return served;
  }

  private remember(model: ServedModel): void {
    this.loaded.delete(model.version);
    this.loaded.set(model.version, model);
  }

  private evict(): void {
    for (const [version, model] of this.loaded) {
      if (this.loaded.size <= this.capacity) break;
      if (model === this.currentModel) continue;
      this.loaded.delete(version);
      model.retire();
    }
  }
}
