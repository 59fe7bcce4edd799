/**
 * Differential privacy on the live coordinator, around the pure PrivacyController: Poisson
 * sampling at rate q (what the accountant assumes), the budget check before every round, the
 * per-round plan sent to clients, the noisy mean after aggregation, the account for GET /v1/rounds
 * and /metrics, and the ledger's checkpoint.
 *
 * Every charge is made when the coordinator learns something, and made durable (the privacy
 * journal, fsynced) before the call that made it returns:
 * - the released account when the Poisson draw is taken, whatever follows: an empty draw, a draw
 *   below minResults and an aborted round cost what a committed round costs (their output is
 *   withheld; see the README's privacy section);
 * - in distributed mode the coordinator's own account when an update reaches it (plaintext
 *   upload) or the secure sum is unmasked, not when the round finishes.
 */
import { z } from 'zod';
import type { Aggregator, Sampler } from '../shared/aggregation/types.js';
import type { ClientDpInstructions } from '../shared/privacy/client-privatize.js';
import type { PrivacyConfig } from '../shared/privacy/config.js';
import { PrivacyController } from '../shared/privacy/controller.js';
import { PrivacyLedger, type RoundPrivacy, type RoundTurnoutRecord } from '../shared/privacy/ledger.js';
import { GaussianSampler } from '../shared/privacy/gaussian.js';
import { PoissonSampler } from '../shared/privacy/poisson-sampler.js';
import { computeRdp, rdpToEpsilon } from '../shared/privacy/rdp.js';
import type { PrivacySpentSummary } from '../shared/protocol/messages.js';
import type { PrivacyStatus, RoundPrivacyRecord } from '../shared/protocol/rounds.js';
import type { PrivacyCharge } from './privacy-journal.js';

/** Differential privacy needs the plain sum of clipped updates: its sensitivity is the clip norm. */
export function assertCompatibleWithPrivacy(aggregator: Aggregator): void {
  if (aggregator.linear) return;
  throw new Error(
    `aggregator '${aggregator.name}' cannot be used with differential privacy: the privacy guarantee rests on ` +
      `adding noise to the plain sum of clipped updates, whose sensitivity is the clip norm; a robust ` +
      `aggregator (median, trimmed mean, Krum, Bulyan) has another sensitivity the accountant does not cover. ` +
      `Use the 'weighted-mean' aggregator or turn privacy off.`,
  );
}

/** One round's DP parameters, fixed when its participants are selected. */
export interface PrivateRoundPlan {
  round: number;
  /** q: every connected client's inclusion probability. */
  samplingRate: number;
  /** n = round(q * population): the mean divides by it, distributed noise shares are sized by it. */
  expectedContributors: number;
  instructions: ClientDpInstructions;
}

export interface PrivateRoundSums {
  /** m: clients whose updates are in the sum. */
  contributors: number;
  updateSum: Float32Array;
  /** Sum of the contributors' clip indicators with adaptive clipping; null with a fixed clip norm. */
  indicatorSum: number | null;
  /** Updates the coordinator scaled down to the clip norm on arrival, when it could see them. */
  clippedUpdates?: number;
}

export interface PrivacyRuntimeOptions {
  /** q, the Poisson sampling rate (strategy.sampler.fraction). */
  samplingRate: number;
  /**
   * The coordinator sees every update on its own (no secure aggregation). In distributed mode each
   * update then carries only its client's share of the noise, and epsilon against the coordinator
   * is accounted for that.
   */
  individualUpdatesVisible: boolean;
  /** Noise source; the CSPRNG by default (tests may seed it). */
  noise?: GaussianSampler;
  /** Seeds the Poisson sample (tests and simulations); the CSPRNG by default. */
  samplingSeed?: number;
}

const RuntimeCheckpointSchema = z.strictObject({
  controller: z.unknown(),
  /** RDP against a coordinator that sees each noisy update (distributed mode without secure aggregation). */
  individualRdp: z.array(z.number().nonnegative()),
});
export type PrivacyRuntimeCheckpoint = {
  controller: ReturnType<PrivacyController['checkpoint']>;
  individualRdp: number[];
};

/** Where charges are made durable (PrivacyJournal); record() returns once the charge is on disk. */
export interface PrivacyChargeSink {
  record(charge: PrivacyCharge): void;
}

export class PrivacyRuntime {
  /** Poisson sampling at rate q that charges every draw as it is taken (see draw()). */
  readonly sampler: Sampler;
  private readonly poisson: PoissonSampler;
  private controller: PrivacyController;
  private individualRdp: number[];
  private readonly noise: GaussianSampler;
  private journal: PrivacyChargeSink | undefined;
  /** The latest charge of the latest round drawn: what its round record reports, committed or not. */
  private current: { round: number; record: RoundPrivacyRecord; individualCharged: boolean } | undefined;

  constructor(
    readonly config: PrivacyConfig,
    private readonly options: PrivacyRuntimeOptions,
  ) {
    this.poisson = new PoissonSampler({
      rate: options.samplingRate,
      ...(options.samplingSeed !== undefined ? { seed: options.samplingSeed } : {}),
    });
    this.sampler = {
      name: this.poisson.name,
      select: (available, round) => {
        const chosen = this.poisson.select(available, round);
        this.draw(round, available.length);
        return chosen;
      },
    };
    this.controller = new PrivacyController(config);
    this.individualRdp = config.orders.map(() => 0);
    this.noise = options.noise ?? new GaussianSampler();
  }

  get samplingRate(): number {
    return this.options.samplingRate;
  }

  /** From now on every charge is recorded here before the call that made it returns. */
  useJournal(journal: PrivacyChargeSink): void {
    this.journal = journal;
  }

  private get individual(): boolean {
    return this.config.mode === 'distributed' && this.options.individualUpdatesVisible;
  }

  /**
   * Charges the Poisson draw of `round` from `population` connected clients, empty or not, and
   * makes the charge durable. Throws (the round must then fail, sending nothing) when the budget
   * does not allow the round or the charge cannot be persisted (the charge is then undone: nothing left).
   */
  draw(round: number, population: number): RoundPrivacyRecord {
    if (!(Number.isSafeInteger(population) && population >= 1))
      throw new Error(`population must be a positive integer, got ${population}`);
    const expectedContributors = this.poisson.expectedCount(population);
    const setup = { round, samplingRate: this.samplingRate, expectedContributors };
    const plan = this.controller.beginRound(setup);
    if (!plan.allowed) throw new Error(plan.reason);
    const clipNorm = this.controller.clipNorm;
    return this.durably(round, false, () => this.toRecord(this.controller.chargeDraw(setup), clipNorm));
  }

  /** The latest charge of `round` (its draw, or its turnout once known), for the round's record. */
  charge(round: number): RoundPrivacyRecord | undefined {
    return this.current?.round === round ? { ...this.current.record } : undefined;
  }

  /** Why the next round may not run (it would take epsilon past targetEpsilon), or undefined. */
  refusal(): string | undefined {
    // The budget decision depends on q alone; the contributor count only sizes noise shares.
    const plan = this.controller.beginRound({ round: 0, samplingRate: this.samplingRate, expectedContributors: 1 });
    return plan.allowed ? undefined : plan.reason;
  }

  /**
   * The plan of a round whose participants were just sampled from `population` connected clients.
   * Its draw is charged here unless the sampler charged it already.
   */
  plan(round: number, population: number): PrivateRoundPlan {
    if (!this.controller.rounds().some((r) => r.round === round)) this.draw(round, population);
    const expectedContributors = this.poisson.expectedCount(population);
    return {
      round,
      samplingRate: this.samplingRate,
      expectedContributors,
      instructions: this.controller.instructions(expectedContributors),
    };
  }

  /**
   * An update is reaching the coordinator in the clear. In distributed mode without secure
   * aggregation it carries only its client's noise share: the coordinator's account is charged
   * (once a round, as if one client were in every round) and made durable before the update is
   * looked at. Throws when the charge cannot be persisted: the update must then be refused.
   */
  received(plan: PrivateRoundPlan): void {
    if (!this.individual) return;
    const current = this.current;
    if (current?.round !== plan.round || current.individualCharged) return;
    this.durably(plan.round, true, () => {
      this.chargeIndividual(plan.expectedContributors);
      // The journal replays a round by its largest contributor count: at least this one is in it.
      return {
        ...current.record,
        contributors: Math.max(1, current.record.contributors),
        coordinatorEpsilon: this.individualEpsilon(),
      };
    });
  }

  /**
   * Under secure aggregation the coordinator learns the noisy sum of `contributors` clients when
   * it unmasks it: their count goes on the ledger (the coordinator's account in distributed mode)
   * and is made durable before anything can use the sum.
   */
  unmasked(plan: PrivateRoundPlan, contributors: number): RoundPrivacyRecord {
    return this.durably(plan.round, this.current?.individualCharged ?? false, () =>
      this.toRecord(this.controller.recordContributors(plan.round, contributors), plan.instructions.clipNorm),
    );
  }

  /** After aggregation: the noisy mean update and the round's privacy record, made durable before it returns. */
  finish(plan: PrivateRoundPlan, sums: PrivateRoundSums): { meanUpdate: Float32Array; record: RoundPrivacyRecord } {
    const { round, samplingRate, expectedContributors } = plan;
    const charged = this.current?.round === round && this.current.individualCharged;
    let meanUpdate: Float32Array | undefined;
    const record = this.durably(round, this.individual && (charged || sums.contributors > 0), () => {
      const finished = this.controller.finishRound(
        {
          round,
          samplingRate,
          expectedContributors,
          contributors: sums.contributors,
          updateSum: sums.updateSum,
          indicatorSum: sums.indicatorSum,
        },
        this.noise,
      );
      if (this.individual && sums.contributors > 0 && !charged) this.chargeIndividual(expectedContributors);
      meanUpdate = finished.meanUpdate;
      return this.toRecord(finished.privacy, plan.instructions.clipNorm, sums.clippedUpdates);
    });
    return { meanUpdate: meanUpdate!, record };
  }

  private toRecord(p: RoundPrivacy, clipNorm: number, clippedUpdates?: number): RoundPrivacyRecord {
    return {
      mode: this.config.mode,
      epsilon: p.epsilon,
      delta: p.delta,
      targetEpsilon: this.config.targetEpsilon,
      order: p.order,
      samplingRate: p.samplingRate,
      expectedContributors: p.expectedContributors,
      contributors: p.contributors,
      clipNorm,
      releasedNoiseMultiplier: p.releasedNoiseMultiplier,
      clientNoiseMultiplier: p.clientNoiseMultiplier,
      coordinatorEpsilon: this.individual ? this.individualEpsilon() : p.coordinatorEpsilon,
      ...(clippedUpdates !== undefined ? { clippedUpdates } : {}),
    };
  }

  /**
   * Makes the charge `apply` makes durable before anyone can see it. When the journal cannot take
   * it, the charge is undone and the error thrown: the caller then discards what it was about to
   * use (the round fails, the update is refused), so the account never reports what a restart
   * would not find.
   */
  private durably(round: number, individualCharged: boolean, apply: () => RoundPrivacyRecord): RoundPrivacyRecord {
    const saved = {
      controller: this.controller.checkpoint(),
      individualRdp: [...this.individualRdp],
      current: this.current,
    };
    try {
      const record = apply();
      this.journal?.record({ round, privacy: record });
      this.current = { round, record, individualCharged };
      return { ...record };
    } catch (e) {
      this.controller = new PrivacyController(this.config, saved.controller);
      this.individualRdp = saved.individualRdp;
      this.current = saved.current;
      throw e;
    }
  }

  private chargeIndividual(expectedContributors: number): void {
    // Each update alone carries noise std z C / sqrt(n) (indicator noise included in z): multiplier z / sqrt(n), no amplification.
    const step = computeRdp(1, this.config.noiseMultiplier / Math.sqrt(expectedContributors), 1, this.config.orders);
    this.individualRdp = this.individualRdp.map((r, k) => r + step[k]);
  }

  private individualEpsilon(): number {
    return this.individualRdp.every((r) => r === 0)
      ? 0
      : rdpToEpsilon(this.individualRdp, this.config.orders, this.config.delta).epsilon;
  }

  private coordinatorEpsilon(): number | null {
    if (this.config.mode === 'central') return null;
    return this.options.individualUpdatesVisible
      ? this.individualEpsilon()
      : this.controller.spent().coordinatorEpsilon;
  }

  /** Epsilon spent so far, as clients are told after every round. */
  summary(): PrivacySpentSummary {
    const spent = this.controller.spent();
    return {
      epsilon: spent.epsilon,
      delta: spent.delta,
      targetEpsilon: this.config.targetEpsilon,
      coordinatorEpsilon: this.coordinatorEpsilon(),
    };
  }

  status(): PrivacyStatus {
    const spent = this.controller.spent();
    const exhausted = this.refusal();
    const coordinatorEpsilon = this.coordinatorEpsilon();
    return {
      mode: this.config.mode,
      epsilon: spent.epsilon,
      delta: spent.delta,
      targetEpsilon: this.config.targetEpsilon,
      coordinatorEpsilon,
      rounds: spent.rounds,
      roundsRemaining: Math.min(Number.MAX_SAFE_INTEGER, this.controller.roundsRemaining(this.samplingRate)),
      clipNorm: this.controller.clipNorm,
      audiences: {
        public: spent.epsilon,
        participationKnown: this.controller.epsilonKnowingParticipation(),
        coordinator: coordinatorEpsilon,
      },
      ...(exhausted ? { exhausted } : {}),
    };
  }

  checkpoint(): PrivacyRuntimeCheckpoint {
    return { controller: this.controller.checkpoint(), individualRdp: [...this.individualRdp] };
  }

  /**
   * Charges rounds the restored checkpoint does not cover (their checkpoints were damaged) from
   * their round records: the same charge finish() made, so the ledger ends where it was. The clip
   * norm resumes at `clipNorm`, the last one those rounds used (it does not enter the account).
   */
  replay(rounds: readonly RoundTurnoutRecord[], clipNorm: number): void {
    if (rounds.length === 0) return;
    const saved = this.controller.checkpoint();
    const ledger = new PrivacyLedger(this.config, saved.ledger);
    const individual = this.config.mode === 'distributed' && this.options.individualUpdatesVisible;
    for (const turnout of rounds) {
      ledger.record(turnout);
      if (individual && turnout.contributors > 0) this.chargeIndividual(turnout.expectedContributors);
    }
    this.controller = new PrivacyController(this.config, {
      ledger: ledger.state(),
      clipNorm: clipNorm > 0 ? clipNorm : saved.clipNorm,
    });
  }

  /** Resumes the account from a checkpoint; throws, naming the problem, when it does not fit the config. */
  restore(state: unknown): void {
    const parsed = RuntimeCheckpointSchema.safeParse(state);
    if (!parsed.success) throw new Error(`checkpoint privacy state is malformed: ${z.prettifyError(parsed.error)}`);
    if (parsed.data.individualRdp.length !== this.config.orders.length) {
      throw new Error(
        `checkpoint privacy state has ${parsed.data.individualRdp.length} RDP values, the config has ${this.config.orders.length} orders`,
      );
    }
    try {
      this.controller = new PrivacyController(
        this.config,
        parsed.data.controller as PrivacyRuntimeCheckpoint['controller'],
      );
    } catch (e) {
      const why = e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message;
      throw new Error(`the checkpoint's privacy ledger cannot be resumed: ${why}`);
    }
    this.individualRdp = [...parsed.data.individualRdp];
  }
}
