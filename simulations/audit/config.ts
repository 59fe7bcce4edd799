import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parsePrivacyConfig, type PrivacyConfig } from '../../shared/privacy/config.js';
import { isPowerOfTwo } from './canaries.js';

/**
 * A canary audit of differential privacy configurations: one population of honest clients and
 * canaries, and one or more runs over it, each with its own noise multiplier (or DP off).
 */

const RunSchema = z.strictObject({
  /** Name in the table. */
  label: z.string().min(1).max(60),
  /** z of this run; null runs the coordinator's path without differential privacy (no clipping, no noise). */
  noiseMultiplier: z.number().positive().nullable(),
});

export const AuditConfigSchema = z
  .strictObject({
    /** Short name: a-z, 0-9, dots and dashes. */
    name: z.string().regex(/^[a-z0-9.-]+$/, 'name uses a-z, 0-9, . and -'),
    description: z.string().default(''),
    /** Seeds canary directions and inclusion, honest updates, sampling and noise. */
    seed: z.int().default(42),
    /** Length of the flat update vectors; a power of two (the canary directions are Hadamard rows). */
    dimension: z.int().min(2).max(65_536).refine(isPowerOfTwo, 'must be a power of two'),
    /** Clients with fresh random updates every round. */
    honestClients: z.int().min(0).max(10_000),
    /** m: canary clients, each included in the population with probability 1/2; at most dimension. */
    canaries: z.int().min(1).max(65_536),
    rounds: z.int().min(1).max(10_000),
    /** q: strategy.sampler.fraction (Poisson rate with DP on, the fraction sampled without). */
    samplingRate: z.number().gt(0).lte(1),
    /** Expected L2 norm of an honest update (i.i.d. Gaussian coordinates). */
    honestUpdateNorm: z.number().min(0),
    /** L2 norm of a canary's update, before clipping: above the clip norm, so the clip sets it to exactly C. */
    canaryUpdateNorm: z.number().positive(),
    /** How many canaries are guessed in (highest scores) and out (lowest); the rest abstain. */
    guesses: z.strictObject({ in: z.int().min(0), out: z.int().min(0) }),
    /** 1 - beta of the lower bound. */
    confidence: z.number().gt(0).lt(1).default(0.95),
    /** The delta of the accountant's epsilon and of the empirical bound. */
    delta: z.number().gt(0).lt(1),
    /** The coordinator's `privacy` section without noiseMultiplier (per run) and delta (above). */
    privacy: z.record(z.string(), z.unknown()),
    runs: z.array(RunSchema).min(1),
  })
  .superRefine((c, ctx) => {
    if (c.canaries > c.dimension)
      ctx.addIssue({
        code: 'custom',
        path: ['canaries'],
        message: `must be <= dimension (${c.dimension}): the canaries are orthogonal`,
      });
    const r = c.guesses.in + c.guesses.out;
    if (r < 1 || r > c.canaries)
      ctx.addIssue({
        code: 'custom',
        path: ['guesses'],
        message: `in + out must be in [1, canaries = ${c.canaries}], got ${r}`,
      });
    if (!(2 * c.canaries * c.delta < 1))
      ctx.addIssue({
        code: 'custom',
        path: ['delta'],
        message: `2 x canaries x delta must be < 1, got ${2 * c.canaries * c.delta}`,
      });
    for (const key of ['noiseMultiplier', 'delta'] as const) {
      if (key in c.privacy)
        ctx.addIssue({
          code: 'custom',
          path: ['privacy', key],
          message: key === 'delta' ? 'set the top-level delta' : 'is set per run',
        });
    }
  });

export type AuditMechanism = { kind: 'dp'; privacy: PrivacyConfig } | { kind: 'off' };
export interface AuditRun {
  label: string;
  mechanism: AuditMechanism;
}
export type AuditConfig = Omit<z.output<typeof AuditConfigSchema>, 'runs'> & { runs: AuditRun[] };

export function parseAuditConfig(raw: unknown, source: string): AuditConfig {
  const result = AuditConfigSchema.safeParse(raw);
  if (!result.success) throw new Error(`invalid audit config (${source}):\n${z.prettifyError(result.error)}`);
  const { runs, ...config } = result.data;
  const labels = runs.map((r) => r.label);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice) throw new Error(`invalid audit config (${source}): run label '${twice}' is used twice`);
  const parsedRuns = runs.map((run): AuditRun => {
    if (run.noiseMultiplier === null) return { label: run.label, mechanism: { kind: 'off' } };
    try {
      return {
        label: run.label,
        mechanism: {
          kind: 'dp',
          privacy: parsePrivacyConfig({ ...config.privacy, delta: config.delta, noiseMultiplier: run.noiseMultiplier }),
        },
      };
    } catch (e) {
      throw new Error(`invalid audit config (${source}), run '${run.label}': ${(e as Error).message}`);
    }
  });
  return { ...config, runs: parsedRuns };
}

export function readAuditConfig(path: string): AuditConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read audit config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`audit config ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseAuditConfig(raw, path);
}
