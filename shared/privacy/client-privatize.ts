/**
 * The client's half of a DP round: clip the update, report the clip indicator for adaptive
 * clipping, and in distributed mode add this client's share of the noise before the update
 * leaves the device (then secure aggregation masks it).
 */
import { z } from 'zod';
import { clipIndicator } from './adaptive-clipping.js';
import { clipToL2Norm } from './clipping.js';
import { addGaussianNoise, type GaussianSampler } from './gaussian.js';

/** What the coordinator tells each client about DP for one round (validated on the client). */
export const ClientDpInstructionsSchema = z.strictObject({
  mode: z.enum(['central', 'distributed']),
  clipNorm: z.number().positive(),
  /** The coordinator's declared noise multiplier z of the update (noise std = z x clipNorm in all): clients may require a floor. */
  noiseMultiplier: z.number().nonnegative(),
  /** Std of the noise this client adds to its clipped update: 0 in central mode. */
  updateNoiseStd: z.number().nonnegative(),
  /** Adaptive clipping: std of the noise this client adds to its indicator (0 in central mode); null with fixed clipping. */
  indicatorNoiseStd: z.number().nonnegative().nullable(),
});
export type ClientDpInstructions = z.infer<typeof ClientDpInstructionsSchema>;

export interface PrivatizedUpdate {
  /** The clipped (and in distributed mode noised) update to send, to be summed with the others. */
  update: Float32Array;
  /** Adaptive clipping: the (noised) centered indicator to sum alongside; null with fixed clipping. */
  clipIndicator: number | null;
}

export function privatizeUpdate(
  delta: Float32Array,
  instructions: ClientDpInstructions,
  sampler: GaussianSampler,
): PrivatizedUpdate {
  const { mode, clipNorm, updateNoiseStd, indicatorNoiseStd } = ClientDpInstructionsSchema.parse(instructions);
  if (mode === 'central' && (updateNoiseStd !== 0 || (indicatorNoiseStd ?? 0) !== 0)) {
    throw new Error('central mode: clients add no noise, the coordinator does; noise stds must be 0');
  }
  const { clipped, withinClipNorm } = clipToL2Norm(delta, clipNorm);
  const update = updateNoiseStd > 0 ? addGaussianNoise(clipped, updateNoiseStd, sampler) : clipped;
  const indicator =
    indicatorNoiseStd === null ? null : clipIndicator(withinClipNorm) + indicatorNoiseStd * sampler.standardNormal();
  return { update, clipIndicator: indicator };
}
