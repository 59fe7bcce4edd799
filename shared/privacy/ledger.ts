/**
 * The privacy ledger: RDP spent so far, whether the next round fits the budget, and an honest
 * record of every round with the sampling rate and noise it really had. Pure and serializable so
 * a restarted coordinator resumes the account exactly.
 *
 * Two accounts are kept:
 * - released: what anyone who sees the global models learns. Poisson sampling with rate q
 *   amplifies privacy; the noise is everything in the released sum. This is what targetEpsilon
 *   limits.
 * - coordinator (distributed mode only): what the coordinator itself learns. It knows who took
 *   part, so there is no amplification by sampling, and only client-added noise counts. Charged
 *   as if a client took part in every round, an upper bound for every client.
 */
import { z } from 'zod';
import { achievedNoise, type PrivacyMode } from './calibration.js';
import { rdpToEpsilon, sampledGaussianRdp, stepsUntilBudget, type EpsilonResult } from './rdp.js';

export interface LedgerSettings {
  mode: PrivacyMode;
  noiseMultiplier: number;
  delta: number;
  targetEpsilon: number;
  orders: readonly number[];
}

export interface RoundTurnoutRecord {
  round: number;
  /** Poisson sampling rate q actually used: expected contributors / population. */
  samplingRate: number;
  expectedContributors: number;
  /** Clients whose clipped updates are in the aggregated sum. */
  contributors: number;
}

const RoundPrivacySchema = z.strictObject({
  round: z.number().int().nonnegative(),
  samplingRate: z.number().min(0).max(1),
  expectedContributors: z.number().int().positive(),
  contributors: z.number().int().nonnegative(),
  releasedNoiseMultiplier: z.number().positive(),
  clientNoiseMultiplier: z.number().nonnegative().nullable(),
  delta: z.number().gt(0).lt(1),
  /** Released-model epsilon after this round, with its optimal order. */
  epsilon: z.number().nonnegative(),
  order: z.number().nullable(),
  orderAtEdge: z.enum(['smallest', 'largest']).nullable(),
  /** Distributed mode: epsilon against the coordinator after this round; null in central mode. */
  coordinatorEpsilon: z.number().nonnegative().nullable(),
});
export type RoundPrivacy = z.infer<typeof RoundPrivacySchema>;

export const LedgerStateSchema = z.strictObject({
  version: z.literal(1),
  mode: z.enum(['central', 'distributed']),
  orders: z.array(z.number().gt(1)).min(1),
  rdp: z.array(z.number().nonnegative()),
  coordinatorRdp: z.array(z.number().nonnegative()),
  rounds: z.array(RoundPrivacySchema),
});
export type LedgerState = z.infer<typeof LedgerStateSchema>;

export type BudgetDecision =
  | { allowed: true; spentEpsilon: number; epsilonAfterRound: number; targetEpsilon: number }
  | { allowed: false; spentEpsilon: number; epsilonAfterRound: number; targetEpsilon: number; reason: string };

export interface PrivacySpent extends EpsilonResult {
  delta: number;
  rounds: number;
  /** Distributed mode: epsilon against the coordinator (see the module comment); else null. */
  coordinatorEpsilon: number | null;
}

export class PrivacyLedger {
  private readonly rdp: number[];
  private readonly coordinatorRdp: number[];
  private readonly history: RoundPrivacy[];
  /** Per-step RDP by (q, z): most rounds repeat the same pair, and the series is not free. */
  private readonly perStepCache = new Map<string, number[]>();

  constructor(
    private readonly settings: LedgerSettings,
    state?: LedgerState,
  ) {
    if (state === undefined) {
      this.rdp = settings.orders.map(() => 0);
      this.coordinatorRdp = settings.orders.map(() => 0);
      this.history = [];
      return;
    }
    const s = LedgerStateSchema.parse(state);
    if (s.mode !== settings.mode) {
      throw new Error(
        `privacy mode changed since the checkpoint (${s.mode} -> ${settings.mode}); the account cannot carry over`,
      );
    }
    if (s.orders.length !== settings.orders.length || s.orders.some((a, k) => a !== settings.orders[k])) {
      throw new Error('the checkpoint was accounted over different RDP orders than the config');
    }
    if (s.rdp.length !== s.orders.length || s.coordinatorRdp.length !== s.orders.length) {
      throw new Error(`checkpoint RDP vectors must have one value per order (${s.orders.length})`);
    }
    this.rdp = [...s.rdp];
    this.coordinatorRdp = [...s.coordinatorRdp];
    this.history = s.rounds.map((r) => ({ ...r }));
  }

  private perStep(q: number, noiseMultiplier: number): number[] {
    const key = `${q}|${noiseMultiplier}`;
    let rdp = this.perStepCache.get(key);
    if (rdp === undefined) {
      rdp = this.settings.orders.map((a) => sampledGaussianRdp(q, noiseMultiplier, a));
      this.perStepCache.set(key, rdp);
    }
    return rdp;
  }

  private epsilon(rdp: readonly number[]): EpsilonResult {
    return rdpToEpsilon(rdp, this.settings.orders, this.settings.delta);
  }

  /** Before a round: may it run without the released epsilon passing targetEpsilon? */
  check(samplingRate: number): BudgetDecision {
    const { targetEpsilon } = this.settings;
    const spentEpsilon = this.spent().epsilon;
    const step = this.perStep(samplingRate, this.settings.noiseMultiplier);
    const epsilonAfterRound = this.epsilon(this.rdp.map((r, k) => r + step[k])).epsilon;
    if (epsilonAfterRound <= targetEpsilon) return { allowed: true, spentEpsilon, epsilonAfterRound, targetEpsilon };
    return {
      allowed: false,
      spentEpsilon,
      epsilonAfterRound,
      targetEpsilon,
      reason:
        `privacy budget exhausted: one more round would bring epsilon from ${spentEpsilon.toFixed(4)} to ` +
        `${epsilonAfterRound.toFixed(4)} > targetEpsilon ${targetEpsilon} (delta ${this.settings.delta})`,
    };
  }

  /** How many more rounds at this sampling rate fit the budget. */
  roundsRemaining(samplingRate: number): number {
    return stepsUntilBudget({
      q: samplingRate,
      noiseMultiplier: this.settings.noiseMultiplier,
      delta: this.settings.delta,
      targetEpsilon: this.settings.targetEpsilon,
      orders: this.settings.orders,
      spentRdp: this.rdp,
    });
  }

  /**
   * After a round: charge it with the noise it actually had and return its privacy report.
   * Records the truth even if it overshoots the budget (e.g. a higher sampling rate than checked):
   * the next check() then refuses.
   */
  record(turnout: RoundTurnoutRecord): RoundPrivacy {
    if (!(Number.isSafeInteger(turnout.round) && turnout.round >= 0)) {
      throw new Error(`round must be a non-negative integer, got ${turnout.round}`);
    }
    const noise = achievedNoise({
      mode: this.settings.mode,
      noiseMultiplier: this.settings.noiseMultiplier,
      ...turnout,
    });
    const step = this.perStep(turnout.samplingRate, noise.releasedNoiseMultiplier);
    for (let k = 0; k < step.length; k++) this.rdp[k] += step[k];
    // A round nobody contributed to tells the coordinator nothing about anyone.
    if (noise.clientNoiseMultiplier !== null && turnout.contributors > 0) {
      const coordinatorStep = this.perStep(1, noise.clientNoiseMultiplier);
      for (let k = 0; k < coordinatorStep.length; k++) this.coordinatorRdp[k] += coordinatorStep[k];
    }
    const coordinatorEpsilon = noise.clientNoiseMultiplier === null ? null : this.coordinatorEpsilonSpent();
    const released = this.epsilon(this.rdp);
    const entry: RoundPrivacy = {
      round: turnout.round,
      samplingRate: turnout.samplingRate,
      expectedContributors: turnout.expectedContributors,
      contributors: turnout.contributors,
      releasedNoiseMultiplier: noise.releasedNoiseMultiplier,
      clientNoiseMultiplier: noise.clientNoiseMultiplier,
      delta: this.settings.delta,
      epsilon: released.epsilon,
      order: released.order,
      orderAtEdge: released.orderAtEdge,
      coordinatorEpsilon,
    };
    this.history.push(entry);
    return { ...entry };
  }

  /** The round was charged already (its Poisson draw was taken). */
  charged(round: number): boolean {
    return this.history.some((r) => r.round === round);
  }

  /**
   * A round charged at its draw (with no contributors) learned how many clients are in its sum:
   * records them and charges the coordinator's account (distributed mode) as record() would have.
   */
  recordContributors(round: number, contributors: number): RoundPrivacy {
    const entry = this.history.find((r) => r.round === round);
    if (!entry)
      throw new Error(`round ${round} was not charged: its draw must be charged before its contributors are recorded`);
    if (entry.contributors === contributors) return { ...entry };
    if (entry.contributors !== 0)
      throw new Error(`round ${round} already recorded ${entry.contributors} contributor(s), not ${contributors}`);
    const noise = achievedNoise({
      mode: this.settings.mode,
      noiseMultiplier: this.settings.noiseMultiplier,
      expectedContributors: entry.expectedContributors,
      contributors,
    });
    if (noise.clientNoiseMultiplier !== null && contributors > 0) {
      const coordinatorStep = this.perStep(1, noise.clientNoiseMultiplier);
      for (let k = 0; k < coordinatorStep.length; k++) this.coordinatorRdp[k] += coordinatorStep[k];
    }
    // The released account keeps the draw's charge: multiplier z whatever m, the most it can cost (m <= n).
    entry.contributors = contributors;
    entry.clientNoiseMultiplier = noise.clientNoiseMultiplier;
    entry.coordinatorEpsilon = noise.clientNoiseMultiplier === null ? null : this.coordinatorEpsilonSpent();
    return { ...entry };
  }

  private coordinatorEpsilonSpent(): number {
    return this.coordinatorRdp.every((r) => r === 0) ? 0 : this.epsilon(this.coordinatorRdp).epsilon;
  }

  /** Epsilon spent so far at the configured delta (0 before any round: nothing was released). */
  spent(): PrivacySpent {
    const rounds = this.history.length;
    const released: EpsilonResult =
      rounds === 0 ? { epsilon: 0, order: null, orderAtEdge: null } : this.epsilon(this.rdp);
    return {
      ...released,
      delta: this.settings.delta,
      rounds,
      coordinatorEpsilon: this.settings.mode === 'distributed' ? this.coordinatorEpsilonSpent() : null,
    };
  }

  /**
   * Epsilon against someone who knows which rounds a client was drawn in (it sees participation):
   * rounds the client was not drawn in tell that observer nothing about it, and the ones it was
   * drawn in get no discount for sampling (q = 1). `everyRound`: a client drawn in every round,
   * the bound for all clients; `typicalClient`: a client drawn in the expected share of rounds
   * (the sum of q), its RDP composed over that many unsampled rounds.
   */
  epsilonKnowingParticipation(): { typicalClient: number; everyRound: number } {
    if (this.history.length === 0) return { typicalClient: 0, everyRound: 0 };
    const every = this.settings.orders.map(() => 0);
    const typical = this.settings.orders.map(() => 0);
    for (const r of this.history) {
      const step = this.perStep(1, r.releasedNoiseMultiplier);
      for (let k = 0; k < step.length; k++) {
        every[k] += step[k];
        typical[k] += r.samplingRate * step[k];
      }
    }
    return { typicalClient: this.epsilon(typical).epsilon, everyRound: this.epsilon(every).epsilon };
  }

  rounds(): RoundPrivacy[] {
    return this.history.map((r) => ({ ...r }));
  }

  /** Plain JSON-safe state for checkpoints; pass it back to the constructor to resume. */
  state(): LedgerState {
    return {
      version: 1,
      mode: this.settings.mode,
      orders: [...this.settings.orders],
      rdp: [...this.rdp],
      coordinatorRdp: [...this.coordinatorRdp],
      rounds: this.rounds(),
    };
  }
}
