/** The coordinator's `privacy` config section: validated at the trust boundary, then plain data. */
import { z } from 'zod';
import type { PrivacyMode } from './calibration.js';
import type { AdaptiveClippingOptions } from './adaptive-clipping.js';
import { DEFAULT_RDP_ORDERS } from './rdp.js';

const AdaptiveClippingSchema = z.strictObject({
  initialClipNorm: z.number().positive(),
  /** gamma; 0.5 (the median) as recommended by Andrew et al. */
  targetQuantile: z.number().gt(0).lt(1).default(0.5),
  /** eta_C of the geometric update; 0.2 as in Andrew et al. */
  learningRate: z.number().positive().default(0.2),
  /** sigma_b; Andrew et al. suggest expected clients per round / 20. Must exceed noiseMultiplier / 2. */
  bitNoiseStd: z.number().positive(),
});

export type ClippingConfig = { kind: 'fixed'; clipNorm: number } | ({ kind: 'adaptive' } & AdaptiveClippingOptions);

export interface PrivacyConfig {
  mode: PrivacyMode;
  /** z: noise std / sensitivity of each round's release (updates and clip indicators together). */
  noiseMultiplier: number;
  clipping: ClippingConfig;
  delta: number;
  /** Training stops before a round that would take epsilon past this. */
  targetEpsilon: number;
  orders: readonly number[];
}

export const PrivacyConfigSchema = z
  .strictObject({
    mode: z.enum(['central', 'distributed']),
    noiseMultiplier: z.number().positive(),
    clipNorm: z.number().positive().optional(),
    adaptive: AdaptiveClippingSchema.optional(),
    delta: z.number().gt(0).lt(1),
    targetEpsilon: z.number().positive(),
    orders: z.array(z.number().gt(1)).min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.clipNorm === undefined) === (c.adaptive === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['clipNorm'],
        message: 'set exactly one of clipNorm (fixed clipping) or adaptive (quantile-tracked clipping)',
      });
    }
    if (c.adaptive !== undefined && !(2 * c.adaptive.bitNoiseStd > c.noiseMultiplier)) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptive', 'bitNoiseStd'],
        message: `must exceed noiseMultiplier / 2 = ${c.noiseMultiplier / 2}, or no privacy budget is left for the updates`,
      });
    }
  })
  .transform((c): PrivacyConfig => ({
    mode: c.mode,
    noiseMultiplier: c.noiseMultiplier,
    clipping:
      c.adaptive !== undefined
        ? { kind: 'adaptive', ...c.adaptive }
        : { kind: 'fixed', clipNorm: c.clipNorm as number },
    delta: c.delta,
    targetEpsilon: c.targetEpsilon,
    orders: c.orders ?? DEFAULT_RDP_ORDERS,
  }));

/** Parses the `privacy` config section; throws an Error listing every invalid field. */
export function parsePrivacyConfig(input: unknown): PrivacyConfig {
  const result = PrivacyConfigSchema.safeParse(input);
  if (!result.success) throw new Error(`invalid privacy config:\n${z.prettifyError(result.error)}`);
  return result.data;
}
