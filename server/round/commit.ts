import type { ServerOptimizer } from '../../shared/aggregation/types.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { Task } from '../../shared/task.js';
import type { CoordinatorPrivacy } from '../coordinator-options.js';
import { assertLoggable } from '../round-log.js';
import type { CheckpointStore } from '../store/checkpoint-store.js';
import type { CommitFence } from '../store/commit-fence.js';
import type { CheckpointState } from '../store/json-tree.js';
import { aggregateProblem, stepProblem } from './update-norm.js';

/** The model after a round: the optimizer's step by its aggregate; throws, naming why, when the aggregate or the step is unusable. */
export function checkedStep(
  optimizer: ServerOptimizer,
  weights: Float32Array,
  delta: Float32Array,
  maxNorm: number,
): Float32Array {
  const unusable = aggregateProblem(delta, maxNorm);
  if (unusable) throw new Error(unusable);
  const next = optimizer.step(weights, delta);
  const exploding = stepProblem(weights, next, maxNorm);
  if (exploding) throw new Error(exploding);
  return next;
}

/**
 * Persists a committed version with its durable record and what a restart resumes from (the
 * optimizer state, the privacy ledger). A record the round log could not read back is refused
 * first: the round would be committed with its record lost. With a fence (cluster mode) the
 * version carries who committed it under which fencing token, and is published only if the fence
 * still approves that token right before it becomes visible.
 */
export async function saveVersion(
  store: CheckpointStore,
  task: Task,
  saved: { version: number; weights: Float32Array; record: RoundRecord },
  optimizer: ServerOptimizer,
  privacy: CoordinatorPrivacy | undefined,
  fence?: CommitFence,
): Promise<void> {
  assertLoggable(saved.record);
  // Read once: the stamp recorded with the version is the one the check approves.
  const stamp = fence?.stamp();
  if (fence && !stamp) throw new Error(`this node holds no leader lease: version ${saved.version} is not committed`);
  await store.save(
    {
      version: saved.version,
      round: saved.record.round,
      weights: saved.weights,
      modelTopology: task.modelTopology,
      weightSpecs: task.weightSpecs,
      metadata: saved.record,
      state: {
        optimizer: optimizer.state(),
        ...(privacy ? { privacy: privacy.checkpoint() } : {}),
        ...(stamp ? { committedBy: { ...stamp } } : {}),
      } satisfies CheckpointState,
    },
    fence && stamp ? { beforePublish: () => fence.check(stamp, saved.version) } : {},
  );
}
