/**
 * The coordinator's half of a DP round, composed from the pure pieces: budget check and client
 * instructions before the round; noise, fixed-denominator mean, clip-norm update and accounting
 * after it. Pure (noise comes from an injected sampler) and checkpointable.
 */
import { z } from 'zod';
import { AdaptiveClipNorm, unclippedFraction, updateNoiseMultiplier } from './adaptive-clipping.js';
import { achievedNoise, distributedNoiseStd } from './calibration.js';
import type { ClientDpInstructions } from './client-privatize.js';
import type { PrivacyConfig } from './config.js';
import { addGaussianNoise, type GaussianSampler } from './gaussian.js';
import {
  LedgerStateSchema,
  PrivacyLedger,
  type BudgetDecision,
  type PrivacySpent,
  type RoundPrivacy,
} from './ledger.js';

export const PrivacyCheckpointSchema = z.strictObject({
  ledger: LedgerStateSchema,
  clipNorm: z.number().positive(),
});
export type PrivacyCheckpoint = z.infer<typeof PrivacyCheckpointSchema>;

export interface RoundSetup {
  round: number;
  /** Poisson sampling rate q: expected contributors / population. */
  samplingRate: number;
  /** n: how many contributors the round expects (clients size their noise shares by it). */
  expectedContributors: number;
}

export type RoundPlan =
  | { allowed: true; decision: BudgetDecision; instructions: ClientDpInstructions }
  | { allowed: false; decision: BudgetDecision; reason: string };

export interface RoundResult extends RoundSetup {
  /** m: clients whose updates are in the sums. */
  contributors: number;
  /** Sum of the contributors' privatized updates (the secure-aggregation output in distributed mode). */
  updateSum: Float32Array;
  /** Sum of their clip indicators with adaptive clipping; null with fixed clipping. */
  indicatorSum: number | null;
}

export interface FinishedRound {
  /** Noisy sum divided by the expected (not the actual) number of contributors. */
  meanUpdate: Float32Array;
  privacy: RoundPrivacy;
  /** The clip norm the next round will use. */
  nextClipNorm: number;
}

export class PrivacyController {
  private readonly ledger: PrivacyLedger;
  private readonly clip: AdaptiveClipNorm | { readonly clipNorm: number };
  /** Noise multiplier of the update sum alone (z' < z leaves budget for the indicators). */
  private readonly updateMultiplier: number;

  constructor(
    private readonly config: PrivacyConfig,
    checkpoint?: PrivacyCheckpoint,
  ) {
    const saved = checkpoint === undefined ? undefined : PrivacyCheckpointSchema.parse(checkpoint);
    this.ledger = new PrivacyLedger(config, saved?.ledger);
    const clipping = config.clipping;
    switch (clipping.kind) {
      case 'fixed':
        this.clip = { clipNorm: clipping.clipNorm };
        this.updateMultiplier = config.noiseMultiplier;
        break;
      case 'adaptive':
        this.clip = new AdaptiveClipNorm(clipping, saved?.clipNorm ?? clipping.initialClipNorm);
        this.updateMultiplier = updateNoiseMultiplier(config.noiseMultiplier, clipping.bitNoiseStd);
        break;
      default: {
        const unknown: never = clipping;
        throw new Error(`unknown clipping kind ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** The clip norm the next round uses. */
  get clipNorm(): number {
    return this.clip.clipNorm;
  }

  private get bitNoiseStd(): number | null {
    return this.config.clipping.kind === 'adaptive' ? this.config.clipping.bitNoiseStd : null;
  }

  /** Before a round: refuse it if it would exceed the budget, else the instructions for every client. */
  beginRound(setup: RoundSetup): RoundPlan {
    if (!(Number.isSafeInteger(setup.expectedContributors) && setup.expectedContributors >= 1)) {
      throw new Error(`expected contributors must be an integer >= 1, got ${setup.expectedContributors}`);
    }
    const decision = this.ledger.check(setup.samplingRate);
    if (!decision.allowed) return { allowed: false, decision, reason: decision.reason };
    return { allowed: true, decision, instructions: this.instructions(setup.expectedContributors) };
  }

  /** What every client of a round with `expectedContributors` is told (no budget check: see beginRound). */
  instructions(expectedContributors: number): ClientDpInstructions {
    const n = expectedContributors;
    const bitStd = this.bitNoiseStd;
    const distributed = this.config.mode === 'distributed';
    return {
      mode: this.config.mode,
      clipNorm: this.clipNorm,
      noiseMultiplier: this.updateMultiplier,
      updateNoiseStd: distributed ? distributedNoiseStd(this.updateMultiplier, this.clipNorm, n) : 0,
      indicatorNoiseStd: bitStd === null ? null : distributed ? bitStd / Math.sqrt(n) : 0,
    };
  }

  /**
   * After aggregation: add the coordinator's noise (all of it in central mode, the dropout
   * shortfall in distributed mode), take the mean over the expected contributors, move the clip
   * norm, and charge the round to the ledger.
   */
  finishRound(result: RoundResult, sampler: GaussianSampler): FinishedRound {
    const { round, samplingRate, expectedContributors: n, contributors: m, indicatorSum } = result;
    const bitStd = this.bitNoiseStd;
    if ((bitStd === null) !== (indicatorSum === null)) {
      throw new Error(
        bitStd === null ? 'fixed clipping takes no indicator sum' : 'adaptive clipping needs the indicator sum',
      );
    }
    const turnout = { mode: this.config.mode, expectedContributors: n, contributors: m };
    const updateNoise = achievedNoise({ ...turnout, noiseMultiplier: this.updateMultiplier });
    const noisySum = addGaussianNoise(
      result.updateSum,
      updateNoise.coordinatorNoiseMultiplier * this.clipNorm,
      sampler,
    );
    const meanUpdate = noisySum.map((v) => v / n);
    // A round charged at its draw keeps that charge; the turnout only adds the coordinator's account.
    const privacy = this.ledger.charged(round)
      ? this.ledger.recordContributors(round, m)
      : this.ledger.record({ round, samplingRate, expectedContributors: n, contributors: m });

    if (this.clip instanceof AdaptiveClipNorm && bitStd !== null && indicatorSum !== null) {
      const bitNoise = achievedNoise({ ...turnout, noiseMultiplier: bitStd });
      const noisyIndicators = indicatorSum + bitNoise.coordinatorNoiseMultiplier * sampler.standardNormal();
      this.clip.update(unclippedFraction(noisyIndicators, n));
    }
    return { meanUpdate, privacy, nextClipNorm: this.clipNorm };
  }

  /**
   * Charges a round when its Poisson draw is taken, before anyone contributed: every draw costs
   * the same, whether it then commits, fails or is empty (see finishRound for the turnout).
   */
  chargeDraw(setup: RoundSetup): RoundPrivacy {
    if (this.ledger.charged(setup.round)) throw new Error(`round ${setup.round} was already charged`);
    return this.ledger.record({ ...setup, contributors: 0 });
  }

  /** Records the contributors of a round charged at its draw (finishRound does it for rounds that aggregate). */
  recordContributors(round: number, contributors: number): RoundPrivacy {
    return this.ledger.recordContributors(round, contributors);
  }

  spent(): PrivacySpent {
    return this.ledger.spent();
  }

  /** Epsilon against an observer of who was sampled (no amplification by sampling). */
  epsilonKnowingParticipation(): { typicalClient: number; everyRound: number } {
    return this.ledger.epsilonKnowingParticipation();
  }

  rounds(): RoundPrivacy[] {
    return this.ledger.rounds();
  }

  roundsRemaining(samplingRate: number): number {
    return this.ledger.roundsRemaining(samplingRate);
  }

  checkpoint(): PrivacyCheckpoint {
    return { ledger: this.ledger.state(), clipNorm: this.clipNorm };
  }
}
