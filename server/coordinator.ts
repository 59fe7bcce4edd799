import { EventEmitter } from 'node:events';
import type { Aggregator, Sampler, ServerOptimizer } from '../shared/aggregation/types.js';
import type {
  EvaluateTask,
  EvaluationReport,
  PrivacySpentSummary,
  RoundClosed,
  UpdateMeta,
  Welcome,
} from '../shared/protocol/messages.js';
import {
  type Evaluation,
  type FederatedEvaluation,
  type PrivacyStatus,
  type RoundList,
  type RoundPrivacyRecord,
  type RoundRecord,
} from '../shared/protocol/rounds.js';
import type { RoundTurnoutRecord } from '../shared/privacy/ledger.js';
import type { Task } from '../shared/task.js';
import type { TrainConfig } from '../shared/training.js';
import type { CheckpointStore } from './store/checkpoint-store.js';
import type { CheckpointState } from './store/json-tree.js';
import type {
  Outbound,
  ProtocolFactory,
  ProtocolLink,
  ProtocolMessage,
  RoundAggregate,
  Verdict,
} from './round/aggregation-protocol.js';
import { FederatedEvaluationRound, skippedEvaluation } from './round/federated-evaluation.js';
import { RoundMachine, type RoundEffect, type RoundPolicy } from './round/round-machine.js';
import type { PrivacyJournal } from './privacy-journal.js';
import { restoreLedgerFromLog, resumeDataDir } from './resume.js';
import { assertLoggable, type RoundLog } from './round-log.js';
import { dpDurableRecord } from './dp-surfaces.js';
import { aggregateProblem, DEFAULT_UPDATE_NORM_LIMITS, stepProblem } from './round/update-norm.js';

/** Everything the coordinator sends to one client. */
export type LinkMessage =
  | Outbound
  | { event: 'welcome'; to: string; body: Welcome }
  | { event: 'round-closed'; to: string; body: RoundClosed }
  | { event: 'evaluate'; to: string; body: EvaluateTask; weights: Float32Array };

/** A connected client as the coordinator sees it: an id and a way to reach it. */
export interface ClientLink {
  readonly id: string;
  /** It holds held-out data and takes part in federated evaluation. */
  readonly canEvaluate?: boolean;
  send(message: LinkMessage): void;
  /** Closes the connection (a newer connection took over this client id). */
  close(reason: string): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The injected strategy: who takes part, how updates combine, how the global model moves. */
export interface CoordinatorStrategy {
  sampler: Sampler;
  aggregator: Aggregator;
  serverOptimizer: ServerOptimizer;
}

/** Differential privacy as the coordinator sees it (see privacy-runtime.ts). */
export interface CoordinatorPrivacy {
  /** Why the next round may not run (the budget), or undefined. */
  refusal(): string | undefined;
  summary(): PrivacySpentSummary;
  status(): PrivacyStatus;
  checkpoint(): CheckpointState[string];
  restore(state: unknown): void;
  /** Charges rounds the restored checkpoint does not cover, from their records or journal entries (see resume.ts). */
  replay(rounds: readonly RoundTurnoutRecord[], clipNorm: number): void;
  /** Every charge from now on is made durable in `journal` before anything derived from it leaves. */
  useJournal(journal: PrivacyJournal): void;
  /** The latest charge of `round` (charged when its participants were drawn), for its record even when it failed. */
  charge(round: number): RoundPrivacyRecord | undefined;
}

export interface FederatedEvaluationOptions {
  /** Picks the evaluating clients among those connected that hold held-out data. */
  sampler: Sampler & { readonly minAvailable: number };
  timeoutMs: number;
}

/** Starting rounds was refused (the privacy budget is spent). */
export class RoundsRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoundsRefusedError';
  }
}

export interface CoordinatorOptions {
  task: Task;
  store: CheckpointStore;
  roundLog: RoundLog;
  policy: RoundPolicy;
  trainConfig: TrainConfig;
  strategy: CoordinatorStrategy;
  protocol: ProtocolFactory;
  /** Scores a candidate model on held-out data; its result is stored with the version. */
  evaluate?: (weights: Float32Array) => Promise<Evaluation>;
  /** Clients score each new model on their own held-out data before it is committed. */
  federatedEvaluation?: FederatedEvaluationOptions;
  privacy?: CoordinatorPrivacy;
  /** Where privacy charges are made durable as they happen (see privacy-journal.ts). */
  privacyJournal?: PrivacyJournal;
  /** Largest L2 norm of a round's aggregated update; a larger (or non-finite) one fails the round. */
  maxUpdateNorm?: number;
  clock?: Clock;
  log?: (line: string) => void;
}

/** A committed version, for whoever serves it. */
export interface CommittedModel {
  version: number;
  round: number;
  weights: Float32Array;
}

interface CoordinatorEvents {
  /** A round closed (committed or failed); its final record. */
  round: [RoundRecord];
  /** A version was committed and persisted. */
  committed: [CommittedModel];
  /** The running round's phase, the queue or the set of connected clients changed. */
  changed: [];
}

/**
 * Runs rounds one after another over the connected clients. Transport-free: a socket adapter
 * turns connections into ClientLinks and messages into method calls. Each committed version is
 * persisted before it becomes current, so a restart resumes exactly where the last commit left.
 */
export class Coordinator extends EventEmitter<CoordinatorEvents> {
  private readonly clients = new Map<string, ClientLink>();
  private readonly history: RoundRecord[];
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private weights: Float32Array;
  private version: number;
  /** Numbering continues after every version ever committed, damaged and quarantined ones included. */
  private highestVersion: number;
  private lastRound: number;
  private pending = 0;
  private machine: RoundMachine | undefined;
  private machineBaseVersion = 0;
  private machineStartedAt = 0;
  private updateBytes = 0;
  private timer: unknown;
  private aggregation: Promise<void> | undefined;
  private logWrites: Promise<void> = Promise.resolve();
  /** The committed round's aggregate, kept from aggregate() until close() records it. */
  private lastAggregate:
    | {
        result: RoundAggregate;
        evaluation: Evaluation | undefined;
        federatedEvaluation: FederatedEvaluation | undefined;
      }
    | undefined;
  /** The federated evaluation waiting for client reports, and how to end the wait. */
  private evaluation: { round: FederatedEvaluationRound; finish: () => void } | undefined;
  /** Connected clients that declined to evaluate (no held-out data); not asked again while connected. */
  private readonly noEvaluationData = new Set<string>();
  private stopped = false;
  /** Totals since this process started, for /metrics. */
  readonly stats = { updateBytes: 0, updatesAccepted: 0, updatesRefused: 0, roundsCommitted: 0, roundsFailed: 0 };

  private constructor(
    private readonly opts: CoordinatorOptions,
    start: {
      weights: Float32Array;
      version: number;
      highestVersion: number;
      lastRound: number;
      history: RoundRecord[];
    },
  ) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? ((line) => console.log(line));
    this.weights = start.weights;
    this.version = start.version;
    this.highestVersion = start.highestVersion;
    this.lastRound = start.lastRound;
    this.history = start.history;
  }

  /**
   * Resumes from the store's latest version and the round log, or commits the task's initial
   * weights as version 0 on an empty data dir.
   */
  static async open(opts: CoordinatorOptions): Promise<Coordinator> {
    const { store, task } = opts;
    const log = opts.log ?? ((line: string) => console.log(line));
    const resumed = await resumeDataDir(store, opts.roundLog, log);
    const { latest, history } = resumed;
    const charges = opts.privacyJournal?.read() ?? [];
    let start: { weights: Float32Array; version: number; round: number };
    if (latest) {
      assertSameLayout(task, latest.weightSpecs, store.dir);
      const optimizerState = latest.state?.optimizer;
      if (optimizerState) opts.strategy.serverOptimizer.restore(toOptimizerState(optimizerState));
      restorePrivacy(opts, latest.state?.privacy, latest.version);
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
    return new Coordinator(opts, {
      weights: start.weights,
      version: start.version,
      highestVersion,
      lastRound,
      history,
    });
  }

  get task(): Task {
    return this.opts.task;
  }

  get currentVersion(): number {
    return this.version;
  }

  /** A copy of the current global weights. */
  currentWeights(): Float32Array {
    return this.weights.slice();
  }

  connectedClients(): string[] {
    return [...this.clients.keys()];
  }

  pendingRounds(): number {
    return this.pending;
  }

  /** The number the next round to start will get. */
  nextRoundNumber(): number {
    return this.machine && !this.machine.closed ? this.machine.round + 1 : this.lastRound + 1;
  }

  /**
   * Registers a client (replacing an older connection with the same id), sends it the welcome,
   * and only then lets the round see it, so a training task never overtakes the welcome.
   */
  join(link: ClientLink): void {
    const previous = this.clients.get(link.id);
    if (previous && previous !== link) {
      this.clients.delete(link.id);
      previous.close('replaced by a newer connection with the same client id');
      this.run(this.machine?.drop(link.id, this.clock.now()) ?? []);
    }
    const { task } = this.opts;
    link.send({
      event: 'welcome',
      to: link.id,
      body: {
        clientId: link.id,
        task: task.info,
        modelTopology: task.modelTopology,
        weightSpecs: task.weightSpecs,
        version: this.version,
        round: this.lastRound,
      },
    });
    this.clients.set(link.id, link);
    this.noEvaluationData.delete(link.id);
    this.log(`client ${link.id} joined (${this.clients.size} connected)`);
    this.run(this.machine?.setAvailable(this.connectedClients(), this.clock.now()) ?? []);
    this.emit('changed');
  }

  /** The connection `link` is gone. */
  leave(link: ClientLink): void {
    if (this.clients.get(link.id) !== link) return;
    this.clients.delete(link.id);
    this.noEvaluationData.delete(link.id);
    this.log(`client ${link.id} left (${this.clients.size} connected)`);
    this.evaluation?.round.drop(link.id);
    if (this.evaluation?.round.settled()) this.evaluation.finish();
    this.run(this.machine?.drop(link.id, this.clock.now()) ?? []);
    this.emit('changed');
  }

  /** A decoded, schema-valid update that took `wireBytes` on the wire (compressed or not); the verdict is sent back to the client. */
  submitUpdate(clientId: string, meta: UpdateMeta, delta: Float32Array, wireBytes: number = delta.byteLength): Verdict {
    const machine = this.machine;
    if (!machine || (machine.closed && meta.round >= machine.round)) {
      return this.refused({
        ok: false,
        code: 'stale-round',
        message: `no round is collecting updates (update is for round ${meta.round})`,
      });
    }
    const { verdict, effects } = machine.receive({ kind: 'update', clientId, meta, delta }, this.clock.now());
    if (verdict.ok) {
      this.stats.updatesAccepted++;
      this.stats.updateBytes += wireBytes;
      this.updateBytes += wireBytes;
    } else {
      this.stats.updatesRefused++;
    }
    this.run(effects);
    return verdict;
  }

  /** A schema-valid message of the round protocol's own exchanges (secure aggregation); the verdict goes back to the client. */
  submitProtocolMessage(message: ProtocolMessage): Verdict {
    const machine = this.machine;
    if (!machine || machine.closed) {
      return { ok: false, code: 'stale-round', message: `no round is running (message is for round ${message.round})` };
    }
    const { verdict, effects } = machine.receiveMessage(message, this.clock.now());
    if (verdict.ok) {
      this.updateBytes += message.bytes;
      this.stats.updateBytes += message.bytes;
      // For /metrics a masked input is the client's update.
      if (message.body.type === 'secagg/masked-input') this.stats.updatesAccepted++;
    }
    this.run(effects);
    return verdict;
  }

  /** Counts an update refused before it could be attributed to a round (invalid metadata). */
  countRefusal(): void {
    this.stats.updatesRefused++;
  }

  /** An update for `round` whose weights were unusable: that participant is out of the round. */
  refuseUpdate(clientId: string, round: number, reason: string): void {
    this.stats.updatesRefused++;
    this.run(this.machine?.refuse(clientId, round, reason, this.clock.now()) ?? []);
  }

  /** A client's answer to the running federated evaluation. */
  submitEvaluation(clientId: string, report: EvaluationReport): Verdict {
    const evaluation = this.evaluation;
    if (!evaluation)
      return {
        ok: false,
        code: 'stale-round',
        message: `no evaluation is running (report is for round ${report.round})`,
      };
    const verdict = evaluation.round.receive(clientId, report);
    if (evaluation.round.settled()) evaluation.finish();
    return verdict;
  }

  /** The privacy account, when differential privacy is on. */
  privacyStatus(): PrivacyStatus | undefined {
    return this.opts.privacy?.status();
  }

  /** Queues `n` more rounds, run one after another; returns the number the first of them gets. */
  startRounds(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new Error(`rounds must be a positive integer, got ${n}`);
    const running = this.machine && !this.machine.closed;
    const refusal = running ? undefined : this.opts.privacy?.refusal();
    if (refusal) throw new RoundsRefusedError(`no more rounds can run: ${refusal}`);
    // `pending` counts the running round too, so the new ones follow the running and queued ones.
    const first = running ? this.machine!.round + this.pending : this.lastRound + 1;
    this.pending += n;
    if (!running) this.beginRound();
    this.emit('changed');
    return first;
  }

  /** Closed rounds (this process and earlier ones) and the running one, oldest first. */
  rounds(): RoundList {
    const running = this.machine && !this.machine.closed ? [this.record(this.machine)] : [];
    const privacy = this.opts.privacy?.status();
    return {
      currentVersion: this.version,
      pendingRounds: this.pending,
      rounds: [...this.history, ...running],
      ...(privacy ? { privacy } : {}),
    };
  }

  /** Stops timers and waits for an aggregation and round-log writes in flight; queued rounds are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = 0;
    this.machine?.protocol?.dispose?.();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.evaluation?.finish();
    await this.aggregation;
    await this.logWrites;
  }

  private refused(verdict: Verdict): Verdict {
    this.stats.updatesRefused++;
    return verdict;
  }

  private beginRound(): void {
    if (this.pending === 0 || this.stopped) return;
    const refusal = this.opts.privacy?.refusal();
    if (refusal) {
      this.log(`training stopped, ${this.pending} queued round(s) dropped: ${refusal}`);
      this.pending = 0;
      this.emit('changed');
      return;
    }
    const round = this.lastRound + 1;
    const now = this.clock.now();
    const ctx = {
      round,
      version: this.version,
      globalWeights: this.weights,
      trainConfig: { ...this.opts.trainConfig, seed: (this.opts.trainConfig.seed ?? 0) + round },
      timeoutMs: this.opts.policy.trainingTimeoutMs,
      aggregator: this.opts.strategy.aggregator,
    };
    // Lets an interactive protocol (secure aggregation) send and move on between events, while its round runs.
    const link: ProtocolLink = {
      send: (messages) => {
        if (this.machine !== machine || machine.closed || this.stopped) return;
        for (const message of messages) this.clients.get(message.to)?.send(message);
      },
      changed: () => {
        if (this.machine !== machine || machine.closed || this.stopped) return;
        this.run(machine.protocolChanged(this.clock.now()));
        this.emit('changed');
      },
      now: () => this.clock.now(),
      setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms),
      clearTimeout: (handle) => this.clock.clearTimeout(handle),
    };
    // The population is read when the round selects: differential privacy sizes noise shares by it.
    const open = () => this.opts.protocol({ ...ctx, population: this.clients.size, link });
    const machine = new RoundMachine(round, this.opts.policy, this.opts.strategy.sampler, open, now);
    this.machine = machine;
    this.machineBaseVersion = this.version;
    this.machineStartedAt = now;
    this.updateBytes = 0;
    this.log(
      `round ${round}: waiting for clients (${this.clients.size} connected, ${this.opts.policy.minClients} needed)`,
    );
    this.run(this.machine.setAvailable(this.connectedClients(), now));
  }

  private run(effects: RoundEffect[]): void {
    const machine = this.machine;
    // After stop() nothing new starts: no messages, aggregations or rounds.
    if (!machine || this.stopped) return;
    for (const effect of effects) {
      switch (effect.type) {
        case 'send': {
          this.clients.get(effect.message.to)?.send(effect.message);
          break;
        }
        case 'aggregate':
          this.log(
            `round ${machine.round}: aggregating${this.opts.privacy ? '' : ` ${machine.protocol?.contributors()} update(s)`}`,
          );
          this.aggregation = this.aggregate(machine);
          break;
        case 'closed':
          this.close(machine, effect.outcome);
          break;
        default: {
          const never: never = effect;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
    if (effects.some((e) => e.type === 'send')) {
      // With differential privacy on, who was drawn is for the admin token only (GET /v1/rounds).
      this.log(
        this.opts.privacy
          ? `round ${machine.round}: training the clients drawn`
          : `round ${machine.round}: training with ${machine.participants.length} client(s): ${machine.participants.join(', ')}`,
      );
    }
    if (effects.length > 0) this.emit('changed');
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = this.machine?.deadline;
    if (deadline === undefined || this.stopped) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.run(this.machine?.tick(this.clock.now()) ?? []);
      },
      Math.max(0, deadline - this.clock.now()),
    );
  }

  private async aggregate(machine: RoundMachine): Promise<void> {
    const optimizer = this.opts.strategy.serverOptimizer;
    const optimizerBefore = optimizer.state();
    let effects: RoundEffect[];
    try {
      // With differential privacy the round was charged at its draw and its turnout here, each made durable before returning.
      const result = machine.protocol!.aggregate();
      const maxNorm = this.opts.maxUpdateNorm ?? DEFAULT_UPDATE_NORM_LIMITS.max;
      const unusable = aggregateProblem(result.delta, maxNorm);
      if (unusable) throw new Error(unusable);
      const weights = optimizer.step(this.weights, result.delta);
      const exploding = stepProblem(this.weights, weights, maxNorm);
      if (exploding) throw new Error(exploding);
      const evaluation = this.opts.evaluate ? await this.opts.evaluate(weights) : undefined;
      const version = this.highestVersion + 1;
      const federatedEvaluation = await this.evaluateOnClients(machine.round, version, weights);
      const record = this.durable(
        this.record(machine, { result, evaluation, federatedEvaluation, version, status: 'committed' }),
      );
      // A round whose record the round log could not read back is not committed: its record would be lost.
      assertLoggable(record);
      await this.opts.store.save({
        version,
        round: machine.round,
        weights,
        modelTopology: this.opts.task.modelTopology,
        weightSpecs: this.opts.task.weightSpecs,
        metadata: record,
        state: {
          optimizer: optimizer.state(),
          ...(this.opts.privacy ? { privacy: this.opts.privacy.checkpoint() } : {}),
        } satisfies CheckpointState,
      });
      this.weights = weights;
      this.version = version;
      this.highestVersion = version;
      this.lastAggregate = { result, evaluation, federatedEvaluation };
      effects = machine.committed(this.clock.now());
    } catch (e) {
      // A privacy charge already made stays: overcounting is safe, undercounting is not.
      optimizer.restore(optimizerBefore);
      const reason = `aggregation failed: ${(e as Error).message}`;
      this.log(`round ${machine.round}: ${reason}`);
      effects = machine.aggregationFailed(reason, this.clock.now());
    }
    if (this.machine === machine) this.run(effects);
  }

  private close(machine: RoundMachine, outcome: 'committed' | 'failed'): void {
    machine.protocol?.dispose?.();
    const aggregate = outcome === 'committed' ? this.lastAggregate : undefined;
    this.lastAggregate = undefined;
    const record = this.record(machine, {
      result: aggregate?.result,
      evaluation: aggregate?.evaluation,
      federatedEvaluation: aggregate?.federatedEvaluation,
      version: outcome === 'committed' ? this.version : undefined,
      status: outcome,
    });
    this.history.push(record);
    this.lastRound = machine.round;
    if (outcome === 'committed') this.stats.roundsCommitted++;
    else this.stats.roundsFailed++;
    const privacy = this.opts.privacy?.summary();
    const body: RoundClosed = {
      round: machine.round,
      outcome,
      version: this.version,
      ...(record.reason ? { reason: record.reason } : {}),
      ...(privacy ? { privacy } : {}),
    };
    for (const id of machine.participants) this.clients.get(id)?.send({ event: 'round-closed', to: id, body });
    // With differential privacy on, the log carries what the durable record does (see dp-surfaces.ts).
    const logged = this.durable(record);
    const federated = logged.federatedEvaluation?.accuracy;
    const accuracy =
      (logged.evaluation ? `, held-out accuracy ${(logged.evaluation.accuracy * 100).toFixed(1)}%` : '') +
      (federated !== undefined ? `, federated accuracy ${(federated * 100).toFixed(1)}%` : '') +
      (logged.privacy
        ? `, epsilon ${logged.privacy.epsilon.toFixed(3)} of ${logged.privacy.targetEpsilon} (delta ${logged.privacy.delta})`
        : '');
    const from = this.opts.privacy
      ? ''
      : ` from ${record.contributions.length} client(s), ${record.numExamples} examples`;
    this.log(
      outcome === 'committed'
        ? `round ${machine.round}: committed version ${this.version}${from}${accuracy}`
        : `round ${machine.round}: failed: ${logged.reason}`,
    );
    // Chained so records land in order; stop() waits for the chain.
    this.logWrites = this.logWrites
      .then(() => this.opts.roundLog.append(logged))
      .catch((e: Error) => this.log(`round ${machine.round}: could not append to the round log: ${e.message}`));
    this.emit('round', record);
    if (outcome === 'committed')
      this.emit('committed', { version: this.version, round: machine.round, weights: this.weights });
    this.pending = Math.max(0, this.pending - 1);
    this.beginRound();
  }

  /**
   * Sends the candidate model to the clients the evaluation sampler picks and waits (up to the
   * deadline) for their scores on their own held-out data.
   */
  private async evaluateOnClients(
    round: number,
    version: number,
    weights: Float32Array,
  ): Promise<FederatedEvaluation | undefined> {
    const options = this.opts.federatedEvaluation;
    if (!options || this.stopped) return undefined;
    const eligible = [...this.clients.values()]
      .filter((l) => l.canEvaluate && !this.noEvaluationData.has(l.id))
      .map((l) => l.id);
    // Nobody connected holds held-out data: there is nothing to evaluate on, and nothing to report.
    if (eligible.length === 0) return undefined;
    if (eligible.length < options.sampler.minAvailable) {
      return skippedEvaluation(
        `${eligible.length} connected client(s) hold held-out data, ${options.sampler.minAvailable} needed`,
      );
    }
    const evaluation = new FederatedEvaluationRound(round, options.sampler.select(eligible, round), this.clock.now());
    this.log(
      `round ${round}: federated evaluation${this.opts.privacy ? '' : ` by ${evaluation.selected.length} client(s)`}`,
    );
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(() => finish(), options.timeoutMs);
      const finish = () => {
        this.clock.clearTimeout(timer);
        this.evaluation = undefined;
        resolve();
      };
      this.evaluation = { round: evaluation, finish };
      for (const to of evaluation.selected) {
        this.clients
          .get(to)
          ?.send({ event: 'evaluate', to, body: { round, version, timeoutMs: options.timeoutMs }, weights });
      }
    });
    for (const id of evaluation.declined) if (this.clients.has(id)) this.noEvaluationData.add(id);
    return evaluation.result(this.clock.now());
  }

  /** The record as the round log, checkpoint metadata and log lines keep it: only what DP covers when it is on. */
  private durable(record: RoundRecord): RoundRecord {
    return this.opts.privacy ? dpDurableRecord(record) : record;
  }

  private record(
    machine: RoundMachine,
    final?: {
      result?: RoundAggregate;
      evaluation?: Evaluation;
      federatedEvaluation?: FederatedEvaluation;
      version?: number;
      status: 'committed' | 'failed';
    },
  ): RoundRecord {
    const now = this.clock.now();
    const order = ['waiting', 'selecting', 'training', 'aggregating', 'committed', 'failed'] as const;
    const phaseMs: Record<string, number> = {};
    const entered = order.filter((p) => machine.enteredAt[p] !== undefined);
    entered.forEach((phase, i) => {
      if (phase === 'committed' || phase === 'failed') return;
      const end = i + 1 < entered.length ? machine.enteredAt[entered[i + 1]]! : now;
      phaseMs[phase] = Math.max(0, end - machine.enteredAt[phase]!);
    });
    const contributions = final?.result?.contributions ?? [];
    const numExamples = final?.result?.numExamples ?? 0;
    const weighted = (f: (c: (typeof contributions)[number]) => number | undefined) =>
      // Weights first, so huge finite metrics times huge counts cannot overflow to Infinity.
      numExamples > 0
        ? contributions.reduce((s, c) => s + (f(c) ?? 0) * ((c.numExamples ?? 0) / numExamples), 0)
        : undefined;
    const status = final?.status ?? machine.phase;
    const trainLoss = final?.result?.trainLoss ?? weighted((c) => c.loss);
    const trainAccuracy = final?.result?.trainAccuracy ?? weighted((c) => c.accuracy);
    // A round is charged when its participants are drawn: a failed or running one reports that charge too.
    const privacy = final?.result?.privacy ?? this.opts.privacy?.charge(machine.round);
    return {
      round: machine.round,
      status,
      ...(status === 'training' && machine.protocol ? { stage: machine.protocol.stage } : {}),
      baseVersion: this.machineBaseVersion,
      ...(final?.version !== undefined ? { version: final.version } : {}),
      participants: [...machine.participants],
      dropped: machine.droppedParticipants(),
      refused: machine.refusedParticipants(),
      contributions,
      numExamples,
      ...(trainLoss !== undefined ? { trainLoss } : {}),
      ...(trainAccuracy !== undefined ? { trainAccuracy } : {}),
      ...(final?.evaluation ? { evaluation: final.evaluation } : {}),
      ...(final?.federatedEvaluation ? { federatedEvaluation: final.federatedEvaluation } : {}),
      ...(privacy ? { privacy } : {}),
      ...(machine.protocol?.details?.() ?? {}),
      updateBytes: this.updateBytes,
      ...(status === 'failed' && machine.reason ? { reason: machine.reason } : {}),
      startedAt: new Date(this.machineStartedAt).toISOString(),
      phaseMs,
      durationMs: machine.enteredAt.selecting === undefined ? 0 : now - machine.enteredAt.selecting,
    };
  }
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

function restorePrivacy(opts: CoordinatorOptions, state: unknown, version: number): void {
  const log = opts.log ?? ((line: string) => console.log(line));
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
