import type { ServerOptimizer } from '../shared/aggregation/types.js';
import type { RoundRecord } from '../shared/protocol/rounds.js';
import type { Task } from '../shared/task.js';
import type { LinkMessage } from './client-link.js';
import type { CoordinatorStart } from './coordinator-start.js';
import type { CoordinatorPrivacy } from './coordinator-options.js';
import { checkedStep, saveVersion } from './round/commit.js';
import { VersionExistsError, type CheckpointStore } from './store/checkpoint-store.js';
import type { CommitFence } from './store/commit-fence.js';

/** What the global model needs to step and persist a version. */
export interface GlobalModelDeps {
  task: Task;
  store: CheckpointStore;
  optimizer: ServerOptimizer;
  /** Its ledger is saved with each version, so a restart never forgets a charge. */
  privacy: CoordinatorPrivacy | undefined;
  /** Largest L2 norm of an aggregated update (see update-norm.ts). */
  maxUpdateNorm: number;
  /** Cluster mode: the leader's fencing check, made right before a version becomes visible. */
  fence?: CommitFence;
}

/** A version a round would commit: numbered and stepped, not yet saved. */
export interface Candidate {
  version: number;
  weights: Float32Array;
}

/**
 * The current global model and its numbering: the weights and version rounds train from, the
 * highest version ever committed, and the last round number used. A new version becomes current
 * only once it is persisted, so a refused step, a failed evaluation or a failed save leaves the
 * model, its numbering and the server optimizer as they were.
 */
export class GlobalModel {
  private currentWeights: Float32Array;
  private currentVersion: number;
  /** Numbering continues after every version ever committed, damaged and quarantined ones included. */
  private highestVersion: number;
  private lastRoundNumber: number;

  constructor(
    private readonly deps: GlobalModelDeps,
    start: Pick<CoordinatorStart, 'weights' | 'version' | 'highestVersion' | 'lastRound'>,
  ) {
    this.currentWeights = start.weights;
    this.currentVersion = start.version;
    this.highestVersion = start.highestVersion;
    this.lastRoundNumber = start.lastRound;
  }

  get version(): number {
    return this.currentVersion;
  }

  /** The current weights, not copied: callers must not mutate them. */
  get weights(): Float32Array {
    return this.currentWeights;
  }

  /** The number of the last round that closed (or was charged before a restart). */
  get lastRound(): number {
    return this.lastRoundNumber;
  }

  roundClosed(round: number): void {
    this.lastRoundNumber = round;
  }

  /** A cluster follower: another node committed `version` from `round`; it becomes current here too. */
  adopt(version: number, weights: Float32Array, round: number): void {
    if (version <= this.currentVersion) return;
    this.currentWeights = weights;
    this.currentVersion = version;
    this.highestVersion = Math.max(this.highestVersion, version);
    this.lastRoundNumber = Math.max(this.lastRoundNumber, round);
  }

  /** What a joining client starts from: the task, the model and where numbering stands. */
  welcome(clientId: string): LinkMessage {
    const { task } = this.deps;
    return {
      event: 'welcome',
      to: clientId,
      body: {
        clientId,
        task: task.info,
        modelTopology: task.modelTopology,
        weightSpecs: task.weightSpecs,
        version: this.currentVersion,
        round: this.lastRoundNumber,
      },
    };
  }

  /**
   * Steps the model by `delta` into the next version, lets `describe` evaluate it and build its
   * durable record, saves it, and only then makes it current. Throws, with the optimizer restored
   * and nothing changed, when any of that fails.
   */
  async commit<T extends { record: RoundRecord }>(
    delta: Float32Array,
    describe: (candidate: Candidate) => Promise<T>,
  ): Promise<T> {
    const { optimizer, store, task, privacy, maxUpdateNorm } = this.deps;
    const optimizerBefore = optimizer.state();
    try {
      const weights = checkedStep(optimizer, this.currentWeights, delta, maxUpdateNorm);
      const version = this.highestVersion + 1;
      const described = await describe({ version, weights });
      await saveVersion(
        store,
        task,
        { version, weights, record: described.record },
        optimizer,
        privacy,
        this.deps.fence,
      );
      this.currentWeights = weights;
      this.currentVersion = version;
      this.highestVersion = version;
      return described;
    } catch (e) {
      optimizer.restore(optimizerBefore);
      // Someone else wrote that number (a cluster leader that lost its lease mid-commit): the next commit takes the one after.
      if (e instanceof VersionExistsError) this.highestVersion = Math.max(this.highestVersion, e.version);
      throw e;
    }
  }
}
