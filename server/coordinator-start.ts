import type { RoundRecord } from '../shared/protocol/rounds.js';
import type { Task } from '../shared/task.js';
import type { CoordinatorOptions } from './coordinator.js';
import { restoreLedgerFromLog, resumeDataDir } from './resume.js';

/** Where a coordinator starts: the current version and everything numbered after it. */
export interface CoordinatorStart {
  weights: Float32Array;
  version: number;
  /** Numbering continues after every version ever committed, damaged and quarantined ones included. */
  highestVersion: number;
  lastRound: number;
  history: RoundRecord[];
}

/**
 * Resumes from the store's latest version and the round log (restoring the server optimizer and
 * the privacy ledger), or commits the task's initial weights as version 0 on an empty data dir.
 */
export async function startingPoint(opts: CoordinatorOptions, log: (line: string) => void): Promise<CoordinatorStart> {
  const { store, task } = opts;
  const resumed = await resumeDataDir(store, opts.roundLog, log);
  const { latest, history } = resumed;
  const charges = opts.privacyJournal?.read() ?? [];
  let start: { weights: Float32Array; version: number; round: number };
  if (latest) {
    assertSameLayout(task, latest.weightSpecs, store.dir);
    const optimizerState = latest.state?.optimizer;
    if (optimizerState) opts.strategy.serverOptimizer.restore(toOptimizerState(optimizerState));
    restorePrivacy(opts, latest.state?.privacy, latest.version, log);
    if (opts.privacy) {
      const coversHistory = latest.state?.privacy !== undefined || latest.version === 0;
      restoreLedgerFromLog(opts.privacy, resumed, charges, coversHistory, log);
    }
    start = { weights: latest.weights, version: latest.version, round: latest.round };
  } else {
    await store.save({
      version: 0,
      round: 0,
      weights: task.initialWeights,
      modelTopology: task.modelTopology,
      weightSpecs: task.weightSpecs,
      metadata: { task: task.info, initial: true },
    });
    start = { weights: task.initialWeights, version: 0, round: 0 };
  }
  if (opts.privacy && opts.privacyJournal) opts.privacy.useJournal(opts.privacyJournal);
  // A round charged to the privacy ledger but cut off before it closed keeps its number too.
  const lastRound = Math.max(start.round, ...history.map((r) => r.round), ...charges.map((c) => c.round));
  const highestVersion = Math.max(start.version, resumed.highestVersion ?? 0);
  return { weights: start.weights, version: start.version, highestVersion, lastRound, history };
}

/**
 * A cluster follower's start: the newest version that verifies and the round log, read only. It
 * neither cleans up the data dir (the leader may be saving into it) nor writes version 0 (the
 * leader does); undefined while the dir holds no version yet.
 */
export async function followerStartingPoint(opts: CoordinatorOptions): Promise<CoordinatorStart | undefined> {
  const { store, task } = opts;
  const latest = await store.latest();
  if (!latest) return undefined;
  assertSameLayout(task, latest.weightSpecs, store.dir);
  const history = await opts.roundLog.read();
  const lastRound = Math.max(latest.round, ...history.map((r) => r.round));
  const highestVersion = Math.max(latest.version, ...(await store.versions()));
  return { weights: latest.weights, version: latest.version, highestVersion, lastRound, history };
}

function assertSameLayout(task: Task, specs: readonly { name: string; shape: number[] }[], dir: string): void {
  const same =
    specs.length === task.weightSpecs.length &&
    specs.every((s, i) => s.shape.join('x') === task.weightSpecs[i].shape.join('x'));
  if (!same) {
    throw new Error(
      `the data dir ${dir} holds checkpoints of a different model (${specs.length} weight tensors) than task ${task.info.name} ` +
        `(${task.weightSpecs.length}); use another --data-dir or the matching --model`,
    );
  }
}

function toOptimizerState(value: unknown): Record<string, Float32Array | number> {
  if (typeof value !== 'object' || value === null) throw new Error('checkpoint optimizer state is not an object');
  const out: Record<string, Float32Array | number> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!(v instanceof Float32Array) && typeof v !== 'number')
      throw new Error(`checkpoint optimizer state '${k}' is neither an array nor a number`);
    out[k] = v;
  }
  return out;
}

function restorePrivacy(opts: CoordinatorOptions, state: unknown, version: number, log: (line: string) => void): void {
  if (opts.privacy && state !== undefined) opts.privacy.restore(state);
  else if (opts.privacy && version > 0) {
    log(
      `privacy: version ${version} was trained without differential privacy; the privacy ledger starts now and covers only rounds from here on`,
    );
  } else if (!opts.privacy && state !== undefined) {
    log(
      'privacy: the checkpoint carries a privacy ledger but privacy is off now; models from here on are not differentially private',
    );
  }
}
