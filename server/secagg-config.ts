import { z } from 'zod';
import { minimumThreshold } from '../shared/secagg/params.js';

/**
 * The coordinator config's `secureAggregation` section. k and threshold default per round from
 * the number of participants (shared/secagg/params.ts); the clip range and the weight cap fix the
 * fixed-point encoding and with it the error bound.
 */
export const SecureAggregationConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Neighbours of each client in the round's k-regular graph (even; default chosen from n). */
    k: z.int().min(2).max(254).optional(),
    /** Shamir threshold t: shares needed to rebuild a secret, so live neighbours each survivor needs. */
    threshold: z.int().min(2).max(254).optional(),
    /** Every coordinate of a model delta is clipped to [-clip, clip] before encoding. */
    clip: z.number().positive().default(1),
    /** Example counts are capped at this in the FedAvg weight; the error bound grows with it (cap / mean weight). */
    maxWeight: z
      .int()
      .min(1)
      .max(2 ** 24)
      .default(10_000),
    /** Deadline of each key stage (advertise keys, share keys) and of the unmask stage. */
    phaseTimeoutMs: z.int().min(100).default(10_000),
    /** Audit mode: every payload received in a secure round is written under this directory. */
    auditDir: z.string().min(1).optional(),
  })
  .refine((s) => s.k === undefined || s.threshold === undefined || s.threshold <= s.k, {
    error: 'threshold cannot exceed k',
    path: ['threshold'],
  })
  .refine((s) => s.k === undefined || s.threshold === undefined || s.threshold >= minimumThreshold(s.k), {
    error: (issue) => {
      const k = (issue.input as { k: number }).k;
      return `threshold must be at least ${minimumThreshold(k)} for k = ${k} (2t - k >= 2: one colluding neighbour must not suffice)`;
    },
    path: ['threshold'],
  });
export type SecureAggregationConfig = z.output<typeof SecureAggregationConfigSchema>;
