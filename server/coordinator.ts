import { createLogger, infoLines } from './logger.js';
import { EventEmitter } from 'node:events';
import type { RoundClosed } from '../shared/protocol/messages.js';
import type {
  FederatedEvaluation,
  PrivacyStatus,
  RoundList,
  RoundRecord,
  RoundStatus,
} from '../shared/protocol/rounds.js';
import type { Task } from '../shared/task.js';
import type { ClientLink, ClientMessage, LinkMessage } from './client-link.js';
import { ClientRegistry } from './client-registry.js';
import { GlobalModel } from './global-model.js';
import { followerStartingPoint, startingPoint, type CoordinatorStart } from './coordinator-start.js';
import { RoundsRefusedError, type CommittedModel, type CoordinatorOptions } from './coordinator-options.js';
import type { Inbound, Verdict } from './round/aggregation-protocol.js';
import {
  evaluateOnClients,
  evaluatorLeft,
  receiveReport,
  receiveSecureEvaluation,
} from './round/evaluate-on-clients.js';
import { RoundMachine, type RoundEffect } from './round/round-machine.js';
import { aggregatingLine, roundRecord, trainingLine } from './round/round-record.js';
import { RoundRun, type CommittedRound } from './round/round-run.js';
import { RoundScheduler, systemClock } from './round/scheduler.js';
import { DEFAULT_UPDATE_NORM_LIMITS } from './round/update-norm.js';
import { RoundLogWriter } from './round-log-writer.js';

export type { ClientLink, ClientMessage, LinkMessage } from './client-link.js';
export { systemClock, type Clock } from './round/scheduler.js';
export * from './coordinator-options.js';

interface CoordinatorEvents {
  /** A round closed (committed or failed); its final record. */
  round: [RoundRecord];
  /** A version was committed and persisted. */
  committed: [CommittedModel];
  /** The running round's status, the queue or the set of connected clients changed. */
  changed: [];
}

/**
 * Runs rounds one after another over the connected clients. Transport-free: a socket adapter
 * turns connections into ClientLinks and messages into receive() calls. Each committed version is
 * persisted before it becomes current, so a restart resumes exactly where the last commit left.
 * A round's state lives in its RoundRun; all its waiting and sending goes through the scheduler,
 * which ends with the round, so nothing of a finished round reaches the next.
 */
export class Coordinator extends EventEmitter<CoordinatorEvents> {
  private readonly clients = new ClientRegistry();
  private history: RoundRecord[];
  private readonly scheduler: RoundScheduler<LinkMessage>;
  private readonly log: (line: string) => void;
  private model: GlobalModel;
  private pending = 0;
  private current: RoundRun | undefined;
  private readonly roundLog: RoundLogWriter;
  private stopped = false;
  /** Totals since this process started, for /metrics. */
  readonly stats = { updateBytes: 0, updatesAccepted: 0, updatesRefused: 0, roundsCommitted: 0, roundsFailed: 0 };

  private constructor(
    private readonly opts: CoordinatorOptions,
    start: CoordinatorStart,
  ) {
    super();
    this.scheduler = new RoundScheduler(opts.clock ?? systemClock, (m) => this.clients.get(m.to)?.send(m));
    this.log = opts.log ?? infoLines(createLogger());
    this.roundLog = new RoundLogWriter(opts.roundLog, !!opts.privacy, this.log);
    this.model = this.modelFrom(start);
    this.history = start.history;
  }

  private modelFrom(start: CoordinatorStart): GlobalModel {
    const { task, store, strategy, privacy, fence, maxUpdateNorm = DEFAULT_UPDATE_NORM_LIMITS.max } = this.opts;
    return new GlobalModel(
      { task, store, optimizer: strategy.serverOptimizer, privacy, maxUpdateNorm, ...(fence ? { fence } : {}) },
      start,
    );
  }

  /** Resumes from the store's latest version and the round log, or commits the initial weights as version 0. */
  static async open(opts: CoordinatorOptions): Promise<Coordinator> {
    return new Coordinator(opts, await startingPoint(opts, opts.log ?? infoLines(createLogger())));
  }

  /**
   * Cluster mode, when this node becomes the leader: resumes from the shared data dir as a restart
   * would (the newest committed version, the round log, the server optimizer), so numbering goes on
   * after every round another leader closed. Only while no round runs here.
   */
  async reload(): Promise<void> {
    if (this.running()) throw new Error('cannot reload the coordinator while a round runs');
    const start = await startingPoint(this.opts, this.log);
    this.model = this.modelFrom(start);
    this.history = start.history;
    this.current = undefined;
    this.stopped = false;
    this.emit('changed');
  }

  /**
   * Cluster mode, on a follower: the leader closed a round (`record`, its durable record); a
   * committed one's version (with `weights`) becomes this node's current version too.
   */
  follow(record: RoundRecord, weights?: Float32Array): void {
    if (this.history.some((r) => r.round === record.round && r.status === record.status)) return;
    this.history.push(record);
    if (record.status === 'committed' && record.version !== undefined && weights)
      this.model.adopt(record.version, weights, record.round);
    else this.model.roundClosed(Math.max(record.round, this.model.lastRound));
    this.emit('changed');
  }

  /** Cluster mode: this node lost the leadership; the round running here ends without closing. */
  async stepDown(): Promise<void> {
    await this.stop();
    this.current = undefined;
  }

  /**
   * Cluster mode, on a node that does not lead: starts from the newest committed version without
   * touching the data dir, waiting up to `waitMs` for the leader to write version 0 into an empty one.
   */
  static async openFollower(opts: CoordinatorOptions, waitMs: number): Promise<Coordinator> {
    const end = Date.now() + waitMs;
    for (;;) {
      const start = await followerStartingPoint(opts);
      if (start) return new Coordinator(opts, start);
      if (Date.now() > end)
        throw new Error(`no committed version appeared in ${opts.store.dir} within ${waitMs} ms: is a leader running?`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  get task(): Task {
    return this.opts.task;
  }

  get currentVersion(): number {
    return this.model.version;
  }

  /** A copy of the current global weights. */
  currentWeights(): Float32Array {
    return this.model.weights.slice();
  }

  connectedClients(): string[] {
    return this.clients.ids();
  }

  pendingRounds(): number {
    return this.pending;
  }

  /** The number the next round to start will get. */
  nextRoundNumber(): number {
    return this.running() ? this.current!.round + 1 : this.model.lastRound + 1;
  }

  /**
   * Registers a client (replacing an older connection with the same id), sends it the welcome,
   * and only then lets the round see it, so a training task never overtakes the welcome.
   */
  join(link: ClientLink): void {
    if (this.clients.evictOlder(link)) this.step((run, now) => run.machine.drop(link.id, now));
    link.send(this.model.welcome(link.id));
    this.clients.add(link);
    this.log(`client ${link.id} joined (${this.clients.size} connected)`);
    this.step((run, now) => run.machine.setAvailable(this.connectedClients(), now));
    this.emit('changed');
  }

  /** The connection `link` is gone. */
  leave(link: ClientLink): void {
    if (!this.clients.remove(link)) return;
    this.log(`client ${link.id} left (${this.clients.size} connected)`);
    evaluatorLeft(this.current, link.id);
    this.step((run, now) => run.machine.drop(link.id, now));
    this.emit('changed');
  }

  /** One decoded, schema-valid message from a client; the verdict is sent back to it. */
  receive(clientId: string, message: ClientMessage): Verdict {
    if (message.kind === 'evaluation') return receiveReport(this.current, clientId, message.report);
    if (message.kind === 'secagg-evaluation') return receiveSecureEvaluation(this.current, clientId, message.body);
    const run = this.current;
    const inbound: Inbound =
      message.kind === 'update'
        ? { kind: 'update', clientId, meta: message.meta, delta: message.delta }
        : { kind: 'secagg', clientId, round: message.round, body: message.body };
    if (message.kind === 'update' && (!run || (run.machine.closed && message.meta.round >= run.round))) {
      this.stats.updatesRefused++;
      const why = `no round is collecting updates (update is for round ${message.meta.round})`;
      return { ok: false, code: 'stale-round', message: why };
    }
    if (message.kind === 'secagg' && (!run || run.machine.closed)) {
      return { ok: false, code: 'stale-round', message: `no round is running (message is for round ${message.round})` };
    }
    const { verdict, effects } = run!.machine.receive(inbound, this.scheduler.now());
    if (verdict.ok) {
      run!.updateBytes += message.bytes;
      this.stats.updateBytes += message.bytes;
      // For /metrics a masked input is the client's update.
      if (message.kind === 'update' || message.body.type === 'secagg/masked-input') this.stats.updatesAccepted++;
    } else if (message.kind === 'update') this.stats.updatesRefused++;
    this.apply(run!, effects);
    return verdict;
  }

  /**
   * Cluster mode, on the leader: the masked inputs of `clientIds`, clients of `node`, added up by
   * that node mod 2^32 (`bytes`: what their messages weighed on arrival there).
   */
  receiveMaskedSum(node: string, round: number, clientIds: string[], words: Uint32Array, bytes: number): Verdict {
    const run = this.current;
    if (!run || run.machine.closed)
      return {
        ok: false,
        code: 'stale-round',
        message: `no round is running (masked input sum is for round ${round})`,
      };
    const { verdict, effects } = run.machine.receive(
      { kind: 'masked-sum', node, clientIds, round, words },
      this.scheduler.now(),
    );
    if (verdict.ok) {
      run.updateBytes += bytes;
      this.stats.updateBytes += bytes;
      this.stats.updatesAccepted += clientIds.length;
    }
    this.apply(run, effects);
    return verdict;
  }

  /** Counts an update refused before it could be attributed to a round (invalid metadata). */
  countRefusal(): void {
    this.stats.updatesRefused++;
  }

  /** An update for `round` whose weights were unusable: that participant is out of the round. */
  refuseUpdate(clientId: string, round: number, reason: string): void {
    this.stats.updatesRefused++;
    this.step((run, now) => run.machine.refuse(clientId, round, reason, now));
  }

  /** The privacy account, when differential privacy is on. */
  privacyStatus(): PrivacyStatus | undefined {
    return this.opts.privacy?.status();
  }

  /** Queues `n` more rounds, run one after another; returns the number the first of them gets. */
  startRounds(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new Error(`rounds must be a positive integer, got ${n}`);
    const running = this.running();
    const refusal = running ? undefined : this.opts.privacy?.refusal();
    if (refusal) throw new RoundsRefusedError(`no more rounds can run: ${refusal}`);
    // `pending` counts the running round too, so the new ones follow the running and queued ones.
    const first = running ? this.current!.round + this.pending : this.model.lastRound + 1;
    this.pending += n;
    if (!running) this.beginRound();
    this.emit('changed');
    return first;
  }

  /** Closed rounds (this process and earlier ones) and the running one, oldest first. */
  rounds(): RoundList {
    const run = this.running() ? this.current! : undefined;
    const privacy = this.opts.privacy?.status();
    return {
      currentVersion: this.model.version,
      pendingRounds: this.pending,
      rounds: [...this.history, ...(run ? [this.record(run, run.machine.status)] : [])],
      ...(privacy ? { privacy } : {}),
    };
  }

  /** Ends the round's deadlines and waits for an aggregation and round-log writes in flight; queued rounds are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = 0;
    const run = this.current;
    this.scheduler.end();
    run?.evaluation?.finish();
    run?.secureEvaluation?.finish();
    await run?.aggregation;
    await this.roundLog.flushed();
  }

  private running(): boolean {
    return this.current !== undefined && !this.current.machine.closed;
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
    const round = this.model.lastRound + 1;
    const now = this.scheduler.now();
    const ctx = {
      round,
      version: this.model.version,
      globalWeights: this.model.weights,
      trainConfig: { ...this.opts.trainConfig, seed: (this.opts.trainConfig.seed ?? 0) + round },
      timeoutMs: this.opts.policy.trainingTimeoutMs,
      aggregator: this.opts.strategy.aggregator,
    };
    // The population is read when the round selects: differential privacy sizes noise shares by it.
    const open = () => this.opts.protocol({ ...ctx, population: this.clients.size });
    const machine = new RoundMachine(round, this.opts.policy, this.opts.strategy.sampler, open, now);
    const run = new RoundRun(machine, this.scheduler.open(), this.model.version, now);
    this.current = run;
    this.log(
      `round ${round}: waiting for clients (${this.clients.size} connected, ${this.opts.policy.minClients} needed)`,
    );
    this.apply(run, machine.setAvailable(this.connectedClients(), now));
  }

  /** Feeds an event to the current round, if any, and carries out what it returns. */
  private step(event: (run: RoundRun, now: number) => RoundEffect[]): void {
    const run = this.current;
    if (run) this.apply(run, event(run, this.scheduler.now()));
  }

  /** Carries out a round's effects through its scheduler scope, then re-arms its deadline. */
  private apply(run: RoundRun, effects: RoundEffect[]): void {
    // After stop() or once the round closed, its scope has ended: nothing new starts.
    if (!run.scope.active) return;
    const { machine } = run;
    for (const effect of effects) {
      switch (effect.type) {
        case 'send':
          run.scope.send(effect.message);
          break;
        case 'await':
          run.scope.after(effect.work, (next, now) => this.apply(run, next(now)));
          break;
        case 'aggregate': {
          this.log(aggregatingLine(run.round, machine.protocol?.contributors(), !!this.opts.privacy));
          const aggregation = this.aggregate(run);
          run.aggregation = aggregation;
          run.scope.after(aggregation, (next) => this.apply(run, next));
          break;
        }
        case 'closed':
          this.close(run, effect.outcome);
          break;
        default: {
          const never: never = effect;
          throw new Error(`unknown effect ${JSON.stringify(never)}`);
        }
      }
    }
    if (effects.some((e) => e.type === 'send' && e.message.event === 'train')) {
      this.log(trainingLine(run.round, machine.participants, !!this.opts.privacy));
    }
    if (effects.length > 0) this.emit('changed');
    run.scope.at('round', machine.deadline, (now) => this.apply(run, machine.tick(now)));
  }

  /** The federated evaluation of a candidate model, on the connected clients that hold held-out data. */
  private async evaluateOnClients(
    run: RoundRun,
    version: number,
    weights: Float32Array,
  ): Promise<FederatedEvaluation | undefined> {
    const options = this.opts.federatedEvaluation;
    if (!options) return undefined;
    const { log } = this;
    const request = {
      version,
      weights,
      eligible: this.clients.evaluators(),
      options,
      quiet: !!this.opts.privacy,
      numClasses: this.opts.task.info.numClasses,
      log,
    };
    const evaluated = await evaluateOnClients(run, request);
    this.clients.declined(evaluated?.declined ?? []);
    return evaluated?.result;
  }

  /** Applies the aggregate, evaluates and persists the new version; the round's next effects. */
  private async aggregate(run: RoundRun): Promise<RoundEffect[]> {
    const { machine } = run;
    try {
      // With differential privacy the round was charged at its draw and its turnout here, each made durable before returning.
      const aggregate = machine.protocol!.aggregate();
      ({ committed: run.committed } = await this.model.commit(aggregate.delta, async ({ version, weights }) => {
        const evaluation = this.opts.evaluate ? await this.opts.evaluate(weights) : undefined;
        const federatedEvaluation = await this.evaluateOnClients(run, version, weights);
        const committed: CommittedRound = { aggregate, evaluation, federatedEvaluation, version };
        return { committed, record: this.roundLog.durable(this.record(run, 'committed', committed)) };
      }));
      return machine.committed(this.scheduler.now());
    } catch (e) {
      // A privacy charge already made stays (overcounting is safe, undercounting is not); the model restored its optimizer.
      const reason = `aggregation failed: ${(e as Error).message}`;
      this.log(`round ${run.round}: ${reason}`);
      return machine.aggregationFailed(reason, this.scheduler.now());
    }
  }

  private close(run: RoundRun, outcome: 'committed' | 'failed'): void {
    const committed = outcome === 'committed' ? run.committed : undefined;
    const record = this.record(run, outcome, committed);
    this.history.push(record);
    this.model.roundClosed(run.round);
    if (outcome === 'committed') this.stats.roundsCommitted++;
    else this.stats.roundsFailed++;
    const privacy = this.opts.privacy?.summary();
    const body: RoundClosed = {
      round: run.round,
      outcome,
      version: this.model.version,
      ...(record.reason ? { reason: record.reason } : {}),
      ...(privacy ? { privacy } : {}),
    };
    for (const to of run.machine.participants) run.scope.send({ event: 'round-closed', to, body });
    // The round is over: its deadlines and any late protocol work end here.
    run.scope.end();
    this.roundLog.closed(record, this.model.version);
    this.emit('round', record);
    if (outcome === 'committed')
      this.emit('committed', { version: this.model.version, round: run.round, weights: this.model.weights });
    this.pending = Math.max(0, this.pending - 1);
    this.beginRound();
  }

  private record(run: RoundRun, status: RoundStatus, committed?: CommittedRound): RoundRecord {
    const now = this.scheduler.now();
    return roundRecord(run.facts(now, status, this.opts.privacy?.charge(run.round), committed), now);
  }
}
