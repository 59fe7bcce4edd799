import * as tf from '@tensorflow/tfjs';
import { CheckpointError, type CheckpointStore } from '../store/checkpoint-store.js';
import type { ModelArtifact } from '../store/tfjs-model-json.js';
import type { InferenceEngine } from './inference-engine.js';
import { artifactFromModel, ServedModel } from './served-model.js';
import type { VersionPolicy } from './version-policy.js';

/**
 * What can be published: a Layers model (copied; the caller keeps and may dispose it), bare
 * weights for the current topology, or an artifact such as a Checkpoint (whose round is kept).
 */
export type PublishSource = tf.LayersModel | Float32Array | (ModelArtifact & { round?: number });

export type { VersionPolicy } from './version-policy.js';

export interface ModelRegistryOptions {
  /** Models held in memory under the `all` policy, the current one included (at least 1). Default 3. */
  capacity?: number;
  /** Instances per tf.predict call. Default 128. */
  maxBatch?: number;
  /** Default { kind: 'all' }. */
  policy?: VersionPolicy;
  /**
   * Batch sizes of the forward passes (zeros) a version runs after loading and before it takes
   * traffic, so the engine has built its buffers for them. Default [1].
   */
  warmupBatchSizes?: number[];
  /** Run forward passes on this inference thread instead of the calling one. The caller closes it. */
  engine?: InferenceEngine;
}

/** TF Serving's model version states: LOADING (loading or warming up), AVAILABLE, END (not served). */
export interface VersionStatus {
  version: number;
  state: 'LOADING' | 'AVAILABLE' | 'END';
  /** Why the version is not served, when it failed to load. */
  error?: string;
}

function checkPolicy(policy: VersionPolicy): void {
  if (policy.kind === 'latest' && !(Number.isInteger(policy.count) && policy.count >= 1)) {
    throw new Error(`the latest version policy needs a positive count, got ${policy.count}`);
  }
  if (
    policy.kind === 'specific' &&
    (policy.versions.length === 0 || !policy.versions.every((v) => Number.isSafeInteger(v) && v >= 0))
  ) {
    throw new Error(
      `the specific version policy needs a non-empty list of version numbers, got [${policy.versions.join(', ')}]`,
    );
  }
}

/** A version policy that would serve none of the stored versions. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** A label cannot point at a version that does not exist. */
export class LabelError extends Error {
  override name = 'LabelError';
}

export const LABEL_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

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
  /** Versions loaded but still warming up, and versions whose last load failed (with why). */
  private readonly warming = new Set<number>();
  private readonly failed = new Map<number, string>();
  private readonly labels = new Map<string, number>();
  private policy: VersionPolicy;
  private readonly warmupBatchSizes: number[];
  private readonly engine: InferenceEngine | undefined;
  private currentModel: ServedModel | null = null;

  constructor(
    private readonly store: CheckpointStore,
    options: ModelRegistryOptions = {},
  ) {
    this.capacity = options.capacity ?? 3;
    this.maxBatch = options.maxBatch ?? 128;
    this.policy = options.policy ?? { kind: 'all' };
    this.warmupBatchSizes = options.warmupBatchSizes ?? [1];
    this.engine = options.engine;
    checkPolicy(this.policy);
    if (!this.warmupBatchSizes.every((b) => Number.isInteger(b) && b >= 1))
      throw new Error(`warm-up batch sizes must be positive integers, got [${this.warmupBatchSizes.join(', ')}]`);
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new Error(`capacity must be a positive integer, got ${this.capacity}`);
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1)
      throw new Error(`maxBatch must be a positive integer, got ${this.maxBatch}`);
  }

  /** The newest published version, or null before the first publish. */
  current(): ServedModel | null {
    return this.currentModel;
  }

  /**
   * Makes `version` servable (after its warm-up) and, if it is the newest so far, current; then
   * unloads what the version policy no longer serves. Publish a version after store.save() so it
   * can be reloaded once evicted. Republishing a version replaces it. Under the specific policy a
   * version it does not list is not loaded, and null is returned.
   */
  async publish(version: number, source: PublishSource, options: { round?: number } = {}): Promise<ServedModel | null> {
    if (!Number.isSafeInteger(version) || version < 0)
      throw new Error(`version must be a non-negative integer, got ${version}`);
    let artifact: ModelArtifact;
    let round = options.round ?? null;
    if (source instanceof Float32Array) {
      if (!this.currentModel)
        throw new Error('cannot publish bare weights before any model: publish a model or checkpoint first');
      const { modelTopology, weightSpecs } = this.currentModel.artifact;
      artifact = { modelTopology, weightSpecs, weights: source.slice() };
    } else if (source instanceof tf.LayersModel) {
      artifact = artifactFromModel(source);
    } else {
      // Copy the weights: the caller may reuse its array for the next round.
      artifact = {
        modelTopology: source.modelTopology,
        weightSpecs: source.weightSpecs,
        weights: source.weights.slice(),
      };
      round ??= source.round ?? null;
    }
    if (this.policy.kind === 'specific' && !this.policy.versions.includes(version) && !this.isLabeled(version))
      return null;
    const served = await this.createWarm(version, round, artifact);
    this.loaded.get(version)?.retire();
    this.remember(served);
    if (!this.currentModel || version >= this.currentModel.version) this.currentModel = served;
    await this.applyPolicy();
    return served;
  }

  /** Loads and warms up a version; its status is LOADING meanwhile, and records a failure. */
  private async createWarm(version: number, round: number | null, artifact: ModelArtifact): Promise<ServedModel> {
    this.warming.add(version);
    try {
      const served = await ServedModel.create(version, round, artifact, this.maxBatch, this.engine);
      try {
        for (const n of this.warmupBatchSizes) await served.predict(new Float32Array(n * served.featureSize), n);
      } catch (e) {
        served.retire();
        throw e;
      }
      this.failed.delete(version);
      return served;
    } catch (e) {
      this.failed.set(version, (e as Error).message);
      throw e;
    } finally {
      this.warming.delete(version);
    }
  }

  /** The versions the policy serves now (labeled ones included), or 'all'. */
  private async servedVersions(): Promise<Set<number> | 'all'> {
    const labeled = [...this.labels.values()];
    switch (this.policy.kind) {
      case 'all':
        return 'all';
      case 'latest':
        return new Set([...(await this.versions()).slice(-this.policy.count), ...labeled]);
      case 'specific':
        return new Set([...this.policy.versions, ...labeled]);
      default: {
        const never: never = this.policy;
        throw new Error(`unknown version policy ${JSON.stringify(never)}`);
      }
    }
  }

  /** The version policy in force. */
  versionPolicy(): VersionPolicy {
    return structuredClone(this.policy);
  }

  /**
   * Replaces the version policy: loads what it serves and unloads what it no longer does; the
   * newest served version answers unversioned requests. A specific policy naming no stored version
   * is refused (PolicyError), changing nothing.
   */
  async setPolicy(policy: VersionPolicy): Promise<void> {
    checkPolicy(policy);
    const stored = await this.versions();
    if (policy.kind === 'specific' && !policy.versions.some((v) => stored.includes(v)))
      throw new PolicyError(
        `none of versions ${policy.versions.join(', ')} exist (stored: ${stored.join(', ') || 'none'}), so that policy would serve nothing`,
      );
    this.policy = structuredClone(policy);
    // Under 'all' nothing is preloaded, but the newest version is current, as after a publish.
    const newest = stored.at(-1);
    if (policy.kind === 'all' && newest !== undefined && this.currentModel?.version !== newest) {
      const model = await this.get(newest);
      if (model) this.currentModel = model;
    }
    await this.applyPolicy();
  }

  /** Whether `version` may be served under the policy (it may still not exist). */
  async isServed(version: number): Promise<boolean> {
    const served = await this.servedVersions();
    return served === 'all' || served.has(version);
  }

  /** The policy in words, for error messages. */
  describePolicy(): string {
    switch (this.policy.kind) {
      case 'all':
        return 'every version is served';
      case 'latest':
        return `the version policy serves the latest ${this.policy.count} version${this.policy.count === 1 ? '' : 's'} and labeled ones`;
      case 'specific':
        return `the version policy serves versions ${this.policy.versions.join(', ')} and labeled ones`;
      default: {
        const never: never = this.policy;
        throw new Error(`unknown version policy ${JSON.stringify(never)}`);
      }
    }
  }

  /** Unloads versions the policy no longer serves and, for latest/specific, loads those it does. */
  private async applyPolicy(): Promise<void> {
    const served = await this.servedVersions();
    if (served === 'all') {
      this.evict();
      return;
    }
    for (const [version, model] of this.loaded) {
      if (served.has(version)) continue;
      this.loaded.delete(version);
      model.retire();
      if (this.currentModel === model) this.currentModel = null;
    }
    for (const version of served) if (!this.loaded.has(version)) await this.get(version).catch(() => null);
    // The newest served version answers unversioned requests.
    for (const model of this.loaded.values())
      if (!this.currentModel || model.version > this.currentModel.version) this.currentModel = model;
  }

  private isLabeled(version: number): boolean {
    for (const v of this.labels.values()) if (v === version) return true;
    return false;
  }

  /** Points `label` at `version`, loading it if needed (a label makes its version served); throws LabelError when it does not exist. */
  async setLabel(label: string, version: number): Promise<void> {
    if (!LABEL_PATTERN.test(label)) throw new Error(`label '${label}' must match ${LABEL_PATTERN}`);
    const missing = () => new LabelError(`version ${version} does not exist, so label '${label}' cannot point at it`);
    if (!(await this.versions()).includes(version)) throw missing();
    const previous = this.labels.get(label);
    this.labels.set(label, version);
    try {
      if (!(await this.get(version))) throw missing();
    } catch (e) {
      if (previous === undefined) this.labels.delete(label);
      else this.labels.set(label, previous);
      throw e;
    }
    await this.applyPolicy();
  }

  /** Removes a label; false when there was none. */
  async removeLabel(label: string): Promise<boolean> {
    const had = this.labels.delete(label);
    if (had) await this.applyPolicy();
    return had;
  }

  /** The version a label points at, or undefined. */
  labelVersion(label: string): number | undefined {
    return this.labels.get(label);
  }

  /** Every label and its version, sorted by label. */
  allLabels(): Record<string, number> {
    return Object.fromEntries([...this.labels].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** TF Serving's model status: every known version, newest first. */
  async status(): Promise<VersionStatus[]> {
    const served = await this.servedVersions();
    const all = new Set([...(await this.versions()), ...this.warming, ...this.failed.keys()]);
    return [...all]
      .sort((a, b) => b - a)
      .map((version): VersionStatus => {
        if (this.warming.has(version) || this.loading.has(version)) return { version, state: 'LOADING' };
        const error = this.failed.get(version);
        if (error !== undefined && !this.loaded.has(version)) return { version, state: 'END', error };
        if (this.loaded.has(version) || served === 'all' || served.has(version)) return { version, state: 'AVAILABLE' };
        return { version, state: 'END' };
      });
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
    if (!(await this.isServed(version))) return null;
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
    const served = await this.createWarm(version, checkpoint.round, checkpoint);
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
    if (this.policy.kind !== 'all') return;
    for (const [version, model] of this.loaded) {
      if (this.loaded.size <= this.capacity) break;
      if (model === this.currentModel || this.isLabeled(version)) continue;
      this.loaded.delete(version);
      model.retire();
    }
  }
}
