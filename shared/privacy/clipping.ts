/** L2 clipping of a client's update: what bounds one client's influence (the DP sensitivity). */

/** Euclidean norm, accumulated in float64. Throws on a non-finite entry, which would void the bound. */
export function l2Norm(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new Error(`update has a non-finite value (${v}) at index ${i}`);
    sum += v * v;
  }
  return Math.sqrt(sum);
}

export interface ClipResult {
  /** The update scaled by min(1, clipNorm / norm): a new array with l2Norm(clipped) <= clipNorm. */
  clipped: Float32Array;
  /** Norm of the update before clipping. Private to the client: never send it. */
  norm: number;
  /** norm <= clipNorm, i.e. the update was left unscaled (the adaptive-clipping bit). */
  withinClipNorm: boolean;
}

/** 1 - 2^-22: a few float32 ulps, enough to absorb the rounding of the scaled values. */
const SHRINK = 1 - 2 ** -22;

export function clipToL2Norm(update: Float32Array, clipNorm: number): ClipResult {
  if (!(clipNorm > 0 && Number.isFinite(clipNorm))) {
    throw new Error(`clip norm must be finite and > 0, got ${clipNorm}`);
  }
  const norm = l2Norm(update);
  if (norm <= clipNorm) return { clipped: update.slice(), norm, withinClipNorm: true };
  // Rounding the scaled values to float32 can land a hair above clipNorm; shrink until it
  // cannot, since the privacy guarantee rests on the bound holding exactly.
  let scale = clipNorm / norm;
  for (;;) {
    const clipped = new Float32Array(update.length);
    for (let i = 0; i < update.length; i++) clipped[i] = update[i] * scale;
    if (l2Norm(clipped) <= clipNorm) return { clipped, norm, withinClipNorm: false };
    scale *= SHRINK;
  }
}
