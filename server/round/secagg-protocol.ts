import { errorMessage } from '../../shared/error-message.js';
import { assertCompatibleWithSecureAggregation } from '../../shared/aggregation/secure-aggregation.js';
import type { TrainTask } from '../../shared/protocol/messages.js';
import type {
  SecureAggregationRecord,
  SecureSlot,
  SecureStage,
  SecureTrainSection,
} from '../../shared/protocol/secagg-messages.js';
import { secureVectorLength, unpackSecureVector, type SlotValues } from '../../shared/protocol/secagg-vector.js';
import {
  createSetup,
  resolveGraphParams,
  SecAggMessageError,
  SecAggServer,
  wordBitsFor,
  type ActivePhase,
  type Dropout,
  type SecAggResult,
  type SecAggServerMessage,
  type SecAggSetup,
  type ServerAudit,
  type ServerStep,
} from '../../shared/secagg/index.js';
import {
  describeInbound,
  sendersOf,
  type AggregationProtocol,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from './aggregation-protocol.js';

/**
 * Secure aggregation (SecAgg+) as a round's protocol: the coordinator routes keys, sealed shares
 * and masked inputs between the participants and learns only the sum of the survivors' vectors.
 * Each client trains first and advertises its keys once its update is ready (training may keep a
 * client's event loop busy, so no exchange is left waiting on it meanwhile); then keys are shared,
 * masked updates sent, and the survivors unmask the sum.
 *
 *   advertise-keys --> share-keys --> masked-input --> consistency --> unmask --> done
 *   (clients train,    (each stage closes when everyone it waits for answered or left, or at its
 *    then advertise)    deadline; any stage may abort: too few live neighbours, too few shares,
 *                       a secret that fails its commitment, or an aggregate out of range)
 *
 * Deadlines: share-keys, masked-input, consistency and unmask get `phaseTimeoutMs` each;
 * advertise-keys (and with it training) ends 4 x `phaseTimeoutMs` before the training deadline,
 * which leaves them their time. The protocol holds no timer: it publishes its stage deadline and
 * the round runtime calls advance() by then; closing a stage is async work it hands back as an
 * effect, whose continuation the runtime drops once the round is over.
 */

/** Stages after advertise-keys, each with its own phase timeout inside the training deadline. */
export const STAGES_AFTER_TRAINING = 4;

const STAGE_OF: Record<ActivePhase, SecureStage> = {
  'advertise-keys': 'advertise-keys',
  'share-keys': 'share-keys',
  'masked-input': 'masked-input',
  consistency: 'consistency',
  unmask: 'unmask',
};

const STAGE_ORDER: readonly SecureStage[] = Object.values(STAGE_OF);

/** Time kept between the end of the unmask stage and the training deadline, for rebuilding the masks. */
const UNMASK_COMPUTE_MS = 1_000;

/** The securely aggregated sum, decoded. */
export interface SecureSum {
  /** Clients whose masked input is in the sum. */
  survivors: string[];
  /** Mean of the survivors' clipped deltas, weighted by capped example counts (all weights 1 when maxWeight is 1). */
  mean: Float32Array;
  /** The slots' (weighted) means. */
  values: SlotValues;
  /** Sum of the survivors' weights: capped example counts, or the number of survivors when maxWeight is 1. */
  totalWeight: number;
  /** Bound on |mean - exact weighted mean| per coordinate of the delta. */
  errorBound: number;
}

/** A coordinator that tampers with what it sends (tests only: peers must detect it). */
export interface SecAggTamper {
  /** The whole training task one client is sent: drop secure aggregation, change its weights or config. */
  task?: (to: string, task: SecureTrainTask) => SecureTrainTask;
  setup?: (to: string, setup: SecAggSetup) => SecAggSetup;
  message?: (to: string, message: SecAggServerMessage) => SecAggServerMessage;
}

/** Audit mode: everything received in one round, the setup it ran under, and how it ended. */
export interface SecAggRoundAudit extends ServerAudit {
  setup(section: SecureTrainSection): void;
  finished(
    outcome: { kind: 'done'; result: SecAggResult } | { kind: 'aborted'; reason: string; dropouts: Dropout[] },
  ): void;
}

export interface SecAggProtocolOptions {
  /** Configured degree and threshold; unset ones are chosen from the number of participants. */
  graph: { k?: number; threshold?: number };
  clip: number;
  /** Cap on the example-count weight; 1 makes every client weigh the same (an unweighted sum). */
  maxWeight: number;
  phaseTimeoutMs: number;
  /** Extra values summed after the delta (training metrics, DP clip indicator). */
  slots: SecureSlot[];
  /** Quantized (int8) updates: 16-bit words when the round's client count leaves enough levels (encoding.ts). */
  smallWords?: boolean;
  /** The Ed25519 identity key the client registered at join. */
  identityOf(clientId: string): Uint8Array | undefined;
  audit?: SecAggRoundAudit;
  tamper?: SecAggTamper;
  log?(line: string): void;
}

/** A training task as SecAggProtocol sends it. */
export interface SecureTrainTask {
  body: TrainTask;
  weights: Float32Array;
}

type Outcome =
  | { kind: 'done'; sum: SecureSum; dropouts: Dropout[] }
  | { kind: 'aborted'; reason: string; dropouts: Dropout[]; culprit?: string };

export class SecAggProtocol implements AggregationProtocol {
  readonly name = 'secagg+';
  /** When the current stage closes at the latest; when the round must fail at once after an abort at the start. */
  deadline: number | undefined;
  private startedAt = 0;
  private server: SecAggServer | undefined;
  private setup: SecAggSetup | undefined;
  private participants: readonly string[] = [];
  private current: SecureStage = 'advertise-keys';
  private stageStart = 0;
  private readonly stageMs: Partial<Record<SecureStage, number>> = {};
  /** Participants that disconnected or were refused. */
  private readonly gone = new Set<string>();
  /** Participants whose masked input was accepted. */
  private readonly masked = new Set<string>();
  private survivors: string[] = [];
  private outcome: Outcome | undefined;
  private closing = false;

  constructor(
    private readonly ctx: RoundContext,
    private readonly options: SecAggProtocolOptions,
  ) {
    assertCompatibleWithSecureAggregation(ctx.aggregator);
  }

  get stage(): string {
    return this.current;
  }

  begin(participants: readonly string[], now: number): Outbound[] {
    this.participants = [...participants];
    this.startedAt = now;
    this.stageStart = now;
    const { round } = this.ctx;
    const { slots, clip, maxWeight } = this.options;
    const privacy = this.ctx.privacy?.plan.instructions;
    const unregistered = participants.filter((id) => !this.options.identityOf(id));
    if (unregistered.length > 0)
      return this.abortAtStart(
        now,
        `secure aggregation needs every participant's identity key; none is registered for ${unregistered.join(', ')}`,
      );
    let setup: SecAggSetup;
    try {
      setup = createSetup({
        round,
        participants: participants.map((id) => ({ id, identityKey: this.options.identityOf(id)! })),
        vectorLength: secureVectorLength(this.ctx.globalWeights.length, slots),
        clip,
        maxWeight,
        ...(this.options.smallWords && wordBitsFor(participants.length) === 16 ? { wordBits: 16 as const } : {}),
        graph: this.graphFor(participants.length),
      });
    } catch (e) {
      return this.abortAtStart(
        now,
        `secure aggregation cannot run round ${round} with ${participants.length} participants: ${(e as Error).message}`,
      );
    }
    this.setup = setup;
    this.server = new SecAggServer({ setup, ...(this.options.audit ? { audit: this.options.audit } : {}) });
    this.options.audit?.setup({ setup, slots });
    this.log(
      `secure aggregation with ${participants.length} clients: k = ${setup.k}, threshold ${setup.threshold}, clip ${clip}, weight cap ${maxWeight}, ` +
        `${setup.wordBits ?? 32}-bit words`,
    );
    this.deadline = this.advertiseDeadline();
    const timeoutMs = Math.max(1, this.advertiseDeadline() - this.startedAt);
    const tamper = this.options.tamper;
    const taskFor = (section: SecureTrainSection): SecureTrainTask => ({
      body: {
        round,
        version: this.ctx.version,
        config: this.ctx.trainConfig,
        timeoutMs,
        ...(privacy ? { privacy } : {}),
        secureAggregation: section,
      },
      weights: this.ctx.globalWeights,
    });
    // One task object for everyone (the transport encodes it once), unless a test tampers per client.
    const shared = taskFor({ setup, slots });
    return participants.map((to) => {
      const task = tamper?.setup ? taskFor({ setup: tamper.setup(to, setup), slots }) : shared;
      const sent = tamper?.task ? tamper.task(to, task) : task;
      return { event: 'train' as const, to, body: sent.body, weights: sent.weights };
    });
  }

  receive(message: Inbound): Verdict {
    if (message.kind === 'update') {
      return {
        ok: false,
        code: 'invalid-message',
        message: `round ${message.meta.round} uses secure aggregation: updates go out masked, as 'secagg' messages; a plaintext update is refused`,
      };
    }
    const what = message.kind === 'secagg' ? `'${message.body.type}'` : describeInbound(message);
    if (this.outcome || !this.server) {
      const state = this.outcome?.kind === 'done' ? 'already unmasked the sum' : 'aborted';
      return {
        ok: false,
        code: 'stale-round',
        message: `secure aggregation of round ${this.ctx.round} ${state}; ${what} is not needed`,
      };
    }
    if (this.closing) {
      // The unmask stage closes as soon as every secret has t shares: later reveals are not needed.
      return {
        ok: false,
        code: 'stale-round',
        message: `stage ${this.current} of round ${this.ctx.round} has closed; ${what} is not needed`,
      };
    }
    const server = this.server;
    try {
      if (message.kind === 'secagg') server.receive(message.clientId, message.body);
      else server.receiveMaskedSum(message.clientIds, message.words);
    } catch (e) {
      // A message the state machine could not take changes nothing; never let it take the coordinator down.
      if (!(e instanceof SecAggMessageError))
        this.log(
          `unexpected error on ${what} from ${sendersOf(message).join(', ')}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
      return { ok: false, code: 'invalid-message', message: errorMessage(e) };
    }
    if (message.kind === 'masked-sum') {
      for (const id of message.clientIds) this.masked.add(id);
      return { ok: true };
    }
    const { clientId, body } = message;
    if (body.type === 'secagg/masked-input') this.masked.add(clientId);
    if (body.type === 'secagg/refusal')
      this.log(`${clientId} refused to go on with secure aggregation: ${body.reason}`);
    return { ok: true };
  }

  drop(clientId: string): boolean {
    if (!this.participants.includes(clientId) || this.gone.has(clientId)) return false;
    this.gone.add(clientId);
    // A client that left after its masked input is still in the sum.
    return !this.masked.has(clientId) && this.outcome?.kind !== 'done';
  }

  contributors(): number {
    return this.outcome?.kind === 'done' ? this.outcome.sum.survivors.length : 0;
  }

  settled(): boolean {
    return this.outcome !== undefined;
  }

  failure(): string | undefined {
    if (this.outcome?.kind === 'done') return undefined;
    if (this.outcome?.kind === 'aborted') return this.outcome.reason;
    const waiting = this.server?.pending() ?? [];
    return (
      `secure aggregation did not finish by the ${this.ctx.timeoutMs} ms training deadline ` +
      `(stage ${this.current}${waiting.length > 0 ? `, waiting for ${waiting.join(', ')}` : ''})`
    );
  }

  aggregate(): RoundAggregate {
    if (this.outcome?.kind !== 'done')
      throw new Error(`secure aggregation of round ${this.ctx.round} has no result: ${this.failure()}`);
    const { sum } = this.outcome;
    const contributions = sum.survivors.map((clientId) => ({ clientId }));
    if (this.ctx.privacy) {
      // Every weight is 1 under differential privacy: the mean times the number of survivors is the
      // plain sum its decorator adds noise to. No example count is summed (the accountant does not cover it).
      const n = sum.totalWeight;
      const indicator = sum.values['clip-indicator'];
      return {
        delta: sum.mean.map((v) => v * n),
        contributions,
        numExamples: 0,
        ...(indicator !== undefined ? { indicatorSum: indicator * n } : {}),
      };
    }
    // With equal weights the example counts are a slot of their own; otherwise they are the weights.
    const examples = this.options.maxWeight === 1 ? sum.values.examples : undefined;
    return {
      delta: sum.mean,
      contributions,
      numExamples: examples === undefined ? sum.totalWeight : Math.max(0, Math.round(examples * sum.totalWeight)),
      ...(sum.values.loss !== undefined ? { trainLoss: sum.values.loss } : {}),
      ...(sum.values.accuracy !== undefined ? { trainAccuracy: Math.min(1, Math.max(0, sum.values.accuracy)) } : {}),
    };
  }

  /** Closes the stage once everyone it waits for answered or left, or at its deadline. */
  advance(now: number): ProtocolEffect[] {
    const server = this.server;
    if (!server || this.outcome || this.closing) return [];
    const due = this.deadline !== undefined && now >= this.deadline;
    if (!due && !server.complete() && !server.pending().every((id) => this.gone.has(id))) return [];
    this.closing = true;
    this.deadline = undefined;
    return [{ type: 'await', work: this.closeStage() }];
  }

  details(now: number): { secureAggregation?: SecureAggregationRecord } {
    const setup = this.setup;
    if (!setup) return {};
    const stageMs: Record<string, number> = { ...this.stageMs };
    if (!this.outcome) stageMs[this.current] = (stageMs[this.current] ?? 0) + Math.max(0, now - this.stageStart);
    const dropouts = (this.outcome?.dropouts ?? [])
      // The unmask stage closes once every secret has t shares: a live client whose shares were not needed did not drop.
      .filter((d) => !(d.phase === 'unmask' && d.reason === undefined && !this.gone.has(d.id)))
      .map((d) => ({ clientId: d.id, stage: STAGE_OF[d.phase], ...(d.reason ? { reason: d.reason } : {}) }))
      .sort(
        (a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage) || (a.clientId < b.clientId ? -1 : 1),
      );
    return {
      secureAggregation: {
        k: setup.k,
        threshold: setup.threshold,
        clip: setup.clip,
        maxWeight: setup.maxWeight,
        ...(setup.wordBits ? { wordBits: setup.wordBits } : {}),
        stage: this.current,
        stageMs,
        survivors: this.outcome?.kind === 'done' ? this.outcome.sum.survivors : this.survivors,
        dropouts,
        ...(this.outcome?.kind === 'done' ? { errorBound: this.outcome.sum.errorBound } : {}),
        ...(this.outcome?.kind === 'aborted' && this.outcome.culprit !== undefined
          ? { culprit: this.outcome.culprit }
          : {}),
      },
    };
  }

  /** Closes the current stage off the event loop; what follows is applied when the runtime resumes it. */
  private async closeStage(): Promise<(now: number) => ProtocolEffect[]> {
    let step: ServerStep;
    try {
      step = await this.server!.close();
    } catch (e) {
      step = {
        kind: 'aborted',
        reason: `the coordinator could not close stage ${this.current}: ${(e as Error).message}`,
        dropouts: [],
      };
    }
    return (now) => this.stageClosed(step, now);
  }

  private stageClosed(step: ServerStep, now: number): ProtocolEffect[] {
    this.closing = false;
    this.stageMs[this.current] = (this.stageMs[this.current] ?? 0) + Math.max(0, now - this.stageStart);
    switch (step.kind) {
      case 'send':
        // Everyone the new stage waits for may have left already.
        return [...this.enterStage(step.phase, step.messages, now), ...this.advance(now)];
      case 'done':
        this.finish(step.result);
        return [];
      case 'aborted':
        this.outcome = {
          kind: 'aborted',
          reason: `secure aggregation aborted ${step.reason}`,
          dropouts: step.dropouts,
          ...(step.culprit !== undefined ? { culprit: step.culprit } : {}),
        };
        this.options.audit?.finished(step);
        this.log(this.outcome.reason);
        return [];
      default: {
        const never: never = step;
        throw new Error(`unknown secure aggregation step ${JSON.stringify(never)}`);
      }
    }
  }

  private enterStage(phase: ActivePhase, messages: Map<string, SecAggServerMessage>, now: number): ProtocolEffect[] {
    this.current = STAGE_OF[phase];
    this.stageStart = now;
    const tamper = this.options.tamper?.message;
    const effects: ProtocolEffect[] = [];
    for (const [to, message] of messages) {
      if (message.type === 'secagg/unmask-request') this.survivors = message.survivors;
      if (!this.gone.has(to))
        effects.push({ type: 'send', message: { event: 'secagg', to, body: tamper ? tamper(to, message) : message } });
    }
    this.log(`secure aggregation: stage ${this.current} with ${messages.size} client(s)`);
    const roundEnd = this.startedAt + this.ctx.timeoutMs;
    const deadline = now + this.options.phaseTimeoutMs;
    this.deadline = phase === 'unmask' ? Math.min(deadline, roundEnd - UNMASK_COMPUTE_MS) : deadline;
    return effects;
  }

  private finish(result: SecAggResult): void {
    try {
      this.ctx.privacy?.unmasked(result.survivors.length);
    } catch (e) {
      this.outcome = {
        kind: 'aborted',
        reason: `secure aggregation aborted after unmasking: ${(e as Error).message}`,
        dropouts: result.dropouts,
      };
      this.log(this.outcome.reason);
      return;
    }
    const { delta: mean, values } = unpackSecureVector(
      result.mean,
      this.ctx.globalWeights.length,
      this.options.slots,
      this.options.clip,
    );
    this.outcome = {
      kind: 'done',
      sum: {
        survivors: result.survivors,
        mean,
        values,
        totalWeight: result.totalWeight,
        errorBound: result.errorBound,
      },
      dropouts: result.dropouts,
    };
    this.options.audit?.finished({ kind: 'done', result });
    this.log(
      `secure aggregation: unmasked the sum of ${result.survivors.length} client(s) (error bound ${result.errorBound.toExponential(2)} per coordinate)`,
    );
  }

  /** The round cannot start securely: nothing is sent, and the round fails with `reason` at once (its deadline is now). */
  private abortAtStart(now: number, reason: string): Outbound[] {
    this.outcome = { kind: 'aborted', reason, dropouts: [] };
    this.deadline = now;
    this.log(reason);
    return [];
  }

  /** k and t for n participants: the configured ones, else defaults from n; never below the threshold floor (params.ts). */
  private graphFor(n: number): { k: number; threshold: number } {
    return resolveGraphParams(n, definedOnly(this.options.graph));
  }

  /** When training must be done and keys advertised: the later stages get a phase timeout each. */
  private advertiseDeadline(): number {
    return this.startedAt + this.ctx.timeoutMs - STAGES_AFTER_TRAINING * this.options.phaseTimeoutMs;
  }

  private log(line: string): void {
    this.options.log?.(`round ${this.ctx.round}: ${line}`);
  }
}

function definedOnly(graph: { k?: number; threshold?: number }): { k?: number; threshold?: number } {
  return {
    ...(graph.k !== undefined ? { k: graph.k } : {}),
    ...(graph.threshold !== undefined ? { threshold: graph.threshold } : {}),
  };
}
