import { taskDigest } from '../secagg/task-digest.js';
import { minimumThreshold } from '../secagg/params.js';
import type { EvaluateTask, SecureEvaluateTask, TrainTask } from './messages.js';

/**
 * What an honest client refuses, whatever the coordinator says: a malicious coordinator must not
 * be able to downgrade a client to a plaintext or weaker-privacy update, or give it a round
 * configuration made to single out its update. Isomorphic: the Node CLI and the browser page use it.
 */
export interface ClientPolicy {
  /** Every task must use secure aggregation (otherwise: from the first secure round on). */
  requireSecureAggregation: boolean;
  /** Every task must carry differential privacy with at least this noise multiplier. */
  minNoiseMultiplier?: number;
  /** Every DP task's clip norm must be at most this. */
  maxClipNorm?: number;
}

/** Bounds outside which no honest round runs; a config outside them is an attack or a mistake. */
export const SANE_TASK_BOUNDS = {
  /** A learning rate this small makes an update vanish: with others' at 1e-30 the sum is one client's update. */
  minLearningRate: 1e-6,
  maxLearningRate: 10,
  maxEpochs: 100,
  /** Largest per-coordinate clip of a securely summed update. */
  maxSecureClip: 1e4,
} as const;

/**
 * Checks training tasks and evaluation requests against the client's policy. Sticky: once this
 * coordinator has run a secure round or secure evaluation (or a DP round) with this client, later
 * tasks without it are refused, and the DP noise multiplier may not drop below the first one seen.
 */
export class TaskGuard {
  private sawSecure = false;
  private noiseFloor: number | undefined;

  constructor(private readonly policy: ClientPolicy) {}

  /** Why this task must be refused, or undefined when it may run. Records what it saw. */
  check(task: TrainTask): string | undefined {
    const reason = this.problem(task);
    if (reason === undefined) {
      if (task.secureAggregation) this.sawSecure = true;
      if (task.privacy) this.noiseFloor = Math.max(this.noiseFloor ?? 0, task.privacy.noiseMultiplier);
    }
    return reason;
  }

  /**
   * Why this evaluation request must be refused, or undefined. A plaintext one reports the
   * client's metrics and confusion matrix in the clear: refused like a plaintext training task.
   */
  checkEvaluation(task: EvaluateTask | SecureEvaluateTask): string | undefined {
    if ('secureAggregation' in task) {
      this.sawSecure = true;
      return undefined;
    }
    if (this.policy.requireSecureAggregation)
      return 'it asks for metrics in the clear, and this client requires secure aggregation';
    if (this.sawSecure)
      return 'it asks for metrics in the clear after this coordinator ran secure sessions with us (downgrade refused)';
    return undefined;
  }

  private problem(task: TrainTask): string | undefined {
    const { config, privacy, secureAggregation } = task;
    const { minLearningRate, maxLearningRate, maxEpochs, maxSecureClip } = SANE_TASK_BOUNDS;
    if (!secureAggregation && (this.policy.requireSecureAggregation || this.sawSecure)) {
      return this.policy.requireSecureAggregation
        ? 'it asks for a plaintext update, and this client requires secure aggregation'
        : 'it asks for a plaintext update after this coordinator ran secure rounds with us (downgrade refused)';
    }
    const minNoise = Math.max(this.policy.minNoiseMultiplier ?? 0, this.noiseFloor ?? 0);
    if ((this.policy.minNoiseMultiplier !== undefined || this.noiseFloor !== undefined) && !privacy) {
      return 'it carries no differential privacy, and this client requires it (by policy or since earlier DP rounds)';
    }
    if (privacy && privacy.noiseMultiplier < minNoise) {
      return `its DP noise multiplier ${privacy.noiseMultiplier} is below the ${minNoise} this client requires`;
    }
    if (privacy && this.policy.maxClipNorm !== undefined && privacy.clipNorm > this.policy.maxClipNorm) {
      return `its DP clip norm ${privacy.clipNorm} exceeds this client's limit ${this.policy.maxClipNorm}`;
    }
    if (config.learningRate < minLearningRate || config.learningRate > maxLearningRate) {
      return `its learning rate ${config.learningRate} is outside the sane range [${minLearningRate}, ${maxLearningRate}]`;
    }
    if (config.epochs > maxEpochs) return `its ${config.epochs} local epochs exceed the sane maximum ${maxEpochs}`;
    if (secureAggregation) {
      const { setup } = secureAggregation;
      if (setup.clip > maxSecureClip)
        return `its secure-aggregation clip ${setup.clip} exceeds the sane maximum ${maxSecureClip}`;
      if (setup.threshold < minimumThreshold(setup.k)) {
        return `its secure-aggregation threshold ${setup.threshold} is below the floor ${minimumThreshold(setup.k)} for k = ${setup.k}`;
      }
    }
    return undefined;
  }
}

/**
 * The digest of everything a secure round's update depends on: the task (all but its relative
 * deadline, which may differ by send time) and the global weights' bytes.
 */
export function trainTaskDigest(task: TrainTask, globalWeights: Float32Array): Uint8Array {
  const { timeoutMs: _deadline, ...bound } = task;
  return taskDigest(bound, new Uint8Array(globalWeights.buffer, globalWeights.byteOffset, globalWeights.byteLength));
}

/**
 * The digest a secure evaluation session binds: a purpose no training task has, the round, version
 * and setup (with its fresh nonce), and the weights' bytes. Neighbours refuse keys advertised under
 * another digest, so no message of a round's training session can be replayed into its
 * evaluation session or the other way round, even by a coordinator that reuses the round's nonce.
 */
export function evaluationTaskDigest(task: SecureEvaluateTask, weights: Float32Array): Uint8Array {
  const { timeoutMs: _deadline, ...bound } = task;
  return taskDigest(
    { purpose: 'evaluation', ...bound },
    new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
  );
}
