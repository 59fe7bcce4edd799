/**
 * How much Gaussian noise goes where, and how much was actually achieved when clients drop out.
 * All multipliers are in units of the sensitivity: noise std = multiplier * clipNorm for the
 * update sum (the clip-indicator sum has its own scale, see adaptive-clipping.ts).
 *
 * central:     the coordinator adds N(0, (z C)^2) to the sum of clipped updates.
 * distributed: each of the n expected contributors adds N(0, (z C)^2 / n) before secure
 *              aggregation. With m < n survivors the sum carries only m/n of the variance; the
 *              coordinator tops the shortfall up so the released model keeps multiplier z, but
 *              noise the coordinator added itself does not protect anyone from the coordinator,
 *              so against it the achieved multiplier is z * sqrt(m / n), and that is reported.
 */

export type PrivacyMode = 'central' | 'distributed';

function checkPositive(name: string, value: number): void {
  if (!(value > 0 && Number.isFinite(value))) throw new Error(`${name} must be finite and > 0, got ${value}`);
}

function checkCount(name: string, value: number, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min))
    throw new Error(`${name} must be an integer >= ${min}, got ${value}`);
}

/** Central mode: std of the noise the coordinator adds to the sum of clipped updates. */
export function centralNoiseStd(noiseMultiplier: number, clipNorm: number): number {
  checkPositive('noise multiplier', noiseMultiplier);
  checkPositive('clip norm', clipNorm);
  return noiseMultiplier * clipNorm;
}

/** Distributed mode: std each client adds so that n contributions sum to N(0, (z C)^2). */
export function distributedNoiseStd(noiseMultiplier: number, clipNorm: number, expectedContributors: number): number {
  checkPositive('noise multiplier', noiseMultiplier);
  checkPositive('clip norm', clipNorm);
  checkCount('expected contributors', expectedContributors, 1);
  return (noiseMultiplier * clipNorm) / Math.sqrt(expectedContributors);
}

export interface AchievedNoise {
  /** Multiplier of all the noise in the released sum: what the budget is charged with. */
  releasedNoiseMultiplier: number;
  /**
   * Distributed mode: multiplier of the noise added by the contributing clients themselves, the
   * only noise that protects a client from the coordinator. null in central mode, where the
   * coordinator sees raw clipped updates and must be trusted.
   */
  clientNoiseMultiplier: number | null;
  /** Multiplier of the noise the coordinator adds after aggregation (z in central mode). */
  coordinatorNoiseMultiplier: number;
}

export interface RoundTurnout {
  mode: PrivacyMode;
  /** The configured (target) noise multiplier z. */
  noiseMultiplier: number;
  /** n: the count the clients sized their noise shares for (distributed mode). */
  expectedContributors: number;
  /** m: clients whose updates are actually in the aggregated sum. */
  contributors: number;
}

/** The noise actually achieved in a round given who really contributed. */
export function achievedNoise(turnout: RoundTurnout): AchievedNoise {
  const { mode, noiseMultiplier: z, expectedContributors: n, contributors: m } = turnout;
  checkPositive('noise multiplier', z);
  checkCount('expected contributors', n, 1);
  checkCount('contributors', m, 0);
  switch (mode) {
    case 'central':
      return { releasedNoiseMultiplier: z, clientNoiseMultiplier: null, coordinatorNoiseMultiplier: z };
    case 'distributed': {
      const client = z * Math.sqrt(m / n);
      const topUp = z * Math.sqrt(Math.max(0, n - m) / n);
      // More contributors than expected means more noise than z: count it, it is real.
      return {
        releasedNoiseMultiplier: Math.hypot(client, topUp),
        clientNoiseMultiplier: client,
        coordinatorNoiseMultiplier: topUp,
      };
    }
    default: {
      const unknown: never = mode;
      throw new Error(`unknown privacy mode ${String(unknown)}`);
    }
  }
}
