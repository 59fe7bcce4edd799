/**
 * Adaptive clipping by quantile tracking (Andrew, Thakkar, McMahan & Ramaswamy 2019,
 * arXiv 1905.03871): the clip norm C follows the gamma-quantile of the clients' update norms.
 *
 * Each client reports the centered indicator b - 1/2, where b = 1 when ||delta|| <= C (its update
 * was NOT clipped). Centering gives the indicator sum sensitivity 1/2 under add/remove-one. With
 * the noisy fraction bBar of unclipped clients, C <- C * exp(-eta * (bBar - gamma)): when more
 * than a gamma fraction of the clients fit under C, C is too large and shrinks, and vice versa.
 */

export interface AdaptiveClippingOptions {
  initialClipNorm: number;
  /** gamma: the quantile of update norms C should track, in (0, 1). */
  targetQuantile: number;
  /** eta_C of the geometric update. */
  learningRate: number;
  /** sigma_b: std of the noise on the sum of clip indicators. */
  bitNoiseStd: number;
}

/**
 * Noise multiplier z' for the update sum such that the updates (sensitivity C, noise z' C) and the
 * indicators (sensitivity 1/2, noise sigma_b) together cost exactly one Gaussian mechanism with
 * multiplier z: z'^-2 + (2 sigma_b)^-2 = z^-2.
 */
export function updateNoiseMultiplier(noiseMultiplier: number, bitNoiseStd: number): number {
  if (!(noiseMultiplier > 0 && Number.isFinite(noiseMultiplier))) {
    throw new Error(`noise multiplier must be finite and > 0, got ${noiseMultiplier}`);
  }
  if (!(bitNoiseStd > 0 && Number.isFinite(bitNoiseStd))) {
    throw new Error(`bit noise std must be finite and > 0, got ${bitNoiseStd}`);
  }
  const rest = noiseMultiplier ** -2 - (2 * bitNoiseStd) ** -2;
  if (!(rest > 0)) {
    throw new Error(
      `bit noise std ${bitNoiseStd} leaves no privacy budget for the updates at noise multiplier ` +
        `${noiseMultiplier}: it must exceed noiseMultiplier / 2 = ${noiseMultiplier / 2}`,
    );
  }
  return rest ** -0.5;
}

/** The value a client reports for adaptive clipping: +1/2 when its update fit under C, else -1/2. */
export function clipIndicator(withinClipNorm: boolean): number {
  return withinClipNorm ? 0.5 : -0.5;
}

/** bBar from the noisy sum of centered indicators, over the expected number of contributors. */
export function unclippedFraction(noisyIndicatorSum: number, expectedContributors: number): number {
  if (!Number.isFinite(noisyIndicatorSum)) throw new Error(`indicator sum must be finite, got ${noisyIndicatorSum}`);
  if (!(Number.isSafeInteger(expectedContributors) && expectedContributors >= 1)) {
    throw new Error(`expected contributors must be an integer >= 1, got ${expectedContributors}`);
  }
  return noisyIndicatorSum / expectedContributors + 0.5;
}

export function checkAdaptiveClippingOptions(options: AdaptiveClippingOptions): void {
  const { initialClipNorm, targetQuantile, learningRate, bitNoiseStd } = options;
  if (!(initialClipNorm > 0 && Number.isFinite(initialClipNorm))) {
    throw new Error(`initial clip norm must be finite and > 0, got ${initialClipNorm}`);
  }
  if (!(targetQuantile > 0 && targetQuantile < 1))
    throw new Error(`target quantile must be in (0, 1), got ${targetQuantile}`);
  if (!(learningRate > 0 && Number.isFinite(learningRate))) {
    throw new Error(`clip learning rate must be finite and > 0, got ${learningRate}`);
  }
  if (!(bitNoiseStd > 0 && Number.isFinite(bitNoiseStd)))
    throw new Error(`bit noise std must be finite and > 0, got ${bitNoiseStd}`);
}

/** The clip-norm state C and its quantile-tracking update. */
export class AdaptiveClipNorm {
  private current: number;

  constructor(
    private readonly options: AdaptiveClippingOptions,
    clipNorm: number = options.initialClipNorm,
  ) {
    checkAdaptiveClippingOptions(options);
    if (!(clipNorm > 0 && Number.isFinite(clipNorm)))
      throw new Error(`clip norm must be finite and > 0, got ${clipNorm}`);
    this.current = clipNorm;
  }

  get clipNorm(): number {
    return this.current;
  }

  /** Moves C given bBar, the (noisy) fraction of clients whose update was not clipped; returns the new C. */
  update(unclipped: number): number {
    if (!Number.isFinite(unclipped)) throw new Error(`unclipped fraction must be finite, got ${unclipped}`);
    const next = this.current * Math.exp(-this.options.learningRate * (unclipped - this.options.targetQuantile));
    if (!(next > 0 && Number.isFinite(next))) {
      throw new Error(`adaptive clip norm left the representable range (${next}); lower the clip learning rate`);
    }
    this.current = next;
    return next;
  }
}
