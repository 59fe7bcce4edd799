/**
 * Differential privacy on the live coordinator, around the pure PrivacyController: Poisson
 * sampling at rate q (what the accountant assumes), the budget check before every round, the
 * per-round plan sent to clients, the noisy mean after aggregation, the account for GET /v1/rounds
 * and /metrics, and the ledger's checkpoint.
 */
import { z } from 'zod';
import type { Aggregator } from '../shared/aggregation/types.js';
import type { ClientDpInstructions } from '../shared/privacy/client-privatize.js';
import type { PrivacyConfig } from '../shared/privacy/config.js';
import { PrivacyController } from '../shared/privacy/controller.js';
import { PrivacyLedger, type RoundTurnoutRecord } from '../shared/privacy/ledger.js';
import { GaussianSampler } from '../shared/privacy/gaussian.js';
import { PoissonSampler } from '../shared/privacy/poisson-sampler.js';
import { computeRdp, rdpToEpsilon } from '../shared/privacy/rdp.js';
import type { PrivacySpentSummary } from '../shared/protocol/messages.js';
import type { PrivacyStatus, RoundPrivacyRecord } from '../shared/protocol/rounds.js';

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
export type PrivacyRuntimeCheckpoint = { controller: ReturnType<PrivacyController['checkpoint']>; individualRdp: number[] };

export class PrivacyRuntime {
  readonly sampler: PoissonSampler;
  private controller: PrivacyController;
  private individualRdp: number[];
  private readonly noise: GaussianSampler;

  constructor(
    readonly config: PrivacyConfig,
    private readonly options: PrivacyRuntimeOptions,
  ) {
    this.sampler = new PoissonSampler({
      rate: options.samplingRate,
      ...(options.samplingSeed !== undefined ? { seed: options.samplingSeed } : {}),
    });
    this.controller = new PrivacyController(config);
    this.individualRdp = config.orders.map(() => 0);
    this.noise = options.noise ?? new GaussianSampler();
  }

  get samplingRate(): number {
    return this.options.samplingRate;
  }

  /** Why the next round may not run (it would take epsilon past targetEpsilon), or undefined. */
  refusal(): string | undefined {
    // The budget decision depends on q alone; the contributor count only sizes noise shares.
    const plan = this.controller.beginRound({ round: 0, samplingRate: this.samplingRate, expectedContributors: 1 });
    return plan.allowed ? undefined : plan.reason;
  }

  /** The plan of a round whose participants were just sampled from `population` connected clients. */
  plan(round: number, population: number): PrivateRoundPlan {
    if (!(Number.isSafeInteger(population) && population >= 1)) throw new Error(`population must be a positive integer, got ${population}`);
    const expectedContributors = this.sampler.expectedCount(population);
    const plan = this.controller.beginRound({ round, samplingRate: this.samplingRate, expectedContributors });
    if (!plan.allowed) throw new Error(plan.reason);
    return { round, samplingRate: this.samplingRate, expectedContributors, instructions: plan.instructions };
  }

  /** After aggregation: the noisy mean update and the round's privacy record; charges the ledger. */
  finish(plan: PrivateRoundPlan, sums: PrivateRoundSums): { meanUpdate: Float32Array; record: RoundPrivacyRecord } {
    const { round, samplingRate, expectedContributors } = plan;
    const finished = this.controller.finishRound(
      { round, samplingRate, expectedContributors, contributors: sums.contributors, updateSum: sums.updateSum, indicatorSum: sums.indicatorSum },
      this.noise,
    );
    const individual = this.config.mode === 'distributed' && this.options.individualUpdatesVisible;
    if (individual && sums.contributors > 0) this.chargeIndividual(expectedContributors);
    const p = finished.privacy;
    return {
      meanUpdate: finished.meanUpdate,
      record: {
        mode: this.config.mode,
        epsilon: p.epsilon,
        delta: p.delta,
        targetEpsilon: this.config.targetEpsilon,
        order: p.order,
        samplingRate,
        expectedContributors,
        contributors: sums.contributors,
        clipNorm: plan.instructions.clipNorm,
        releasedNoiseMultiplier: p.releasedNoiseMultiplier,
        clientNoiseMultiplier: p.clientNoiseMultiplier,
        coordinatorEpsilon: individual ? this.individualEpsilon() : p.coordinatorEpsilon,
        ...(sums.clippedUpdates !== undefined ? { clippedUpdates: sums.clippedUpdates } : {}),
      },
    };
  }

  private chargeIndividual(expectedContributors: number): void {
    // Each update alone carries noise std z C / sqrt(n) (indicator noise included in z): multiplier z / sqrt(n), no amplification.
    const step = computeRdp(1, this.config.noiseMultiplier / Math.sqrt(expectedContributors), 1, this.config.orders);
    this.individualRdp = this.individualRdp.map((r, k) => r + step[k]);
  }

  private individualEpsilon(): number {
    return this.individualRdp.every((r) => r === 0) ? 0 : rdpToEpsilon(this.individualRdp, this.config.orders, this.config.delta).epsilon;
  }

  private coordinatorEpsilon(): number | null {
    if (this.config.mode === 'central') return null;
    return this.options.individualUpdatesVisible ? this.individualEpsilon() : this.controller.spent().coordinatorEpsilon;
  }

  /** Epsilon spent so far, as clients are told after every round. */
  summary(): PrivacySpentSummary {
    const spent = this.controller.spent();
    return { epsilon: spent.epsilon, delta: spent.delta, targetEpsilon: this.config.targetEpsilon, coordinatorEpsilon: this.coordinatorEpsilon() };
  }

  status(): PrivacyStatus {
    const spent = this.controller.spent();
    const exhausted = this.refusal();
    return {
      mode: this.config.mode,
      epsilon: spent.epsilon,
      delta: spent.delta,
      targetEpsilon: this.config.targetEpsilon,
      coordinatorEpsilon: this.coordinatorEpsilon(),
      rounds: spent.rounds,
      roundsRemaining: Math.min(Number.MAX_SAFE_INTEGER, this.controller.roundsRemaining(this.samplingRate)),
      clipNorm: this.controller.clipNorm,
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
    this.controller = new PrivacyController(this.config, { ledger: ledger.state(), clipNorm: clipNorm > 0 ? clipNorm : saved.clipNorm });
  }

  /** Resumes the account from a checkpoint; throws, naming the problem, when it does not fit the config. */
  restore(state: unknown): void {
    const parsed = RuntimeCheckpointSchema.safeParse(state);
    if (!parsed.success) throw new Error(`checkpoint privacy state is malformed: ${z.prettifyError(parsed.error)}`);
    if (parsed.data.individualRdp.length !== this.config.orders.length) {
      throw new Error(`checkpoint privacy state has ${parsed.data.individualRdp.length} RDP values, the config has ${this.config.orders.length} orders`);
    }
    try {
      this.controller = new PrivacyController(this.config, parsed.data.controller as PrivacyRuntimeCheckpoint['controller']);
    } catch (e) {
      const why = e instanceof z.ZodError ? z.prettifyError(e) : (e as Error).message;
      throw new Error(`the checkpoint's privacy ledger cannot be resumed: ${why}`);
    }
    this.individualRdp = [...parsed.data.individualRdp];
  }
}
