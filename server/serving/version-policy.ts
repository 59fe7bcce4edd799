import { z } from 'zod';

/**
 * Which versions are served, as in TF Serving's model_version_policy. all: every stored version,
 * loaded on demand and evicted least-recently-used beyond the registry's capacity; latest: the
 * newest `count` versions, kept loaded; specific: exactly these versions, kept loaded. Labeled
 * versions are served and kept loaded under every policy.
 */
export const VersionPolicySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('all') }),
  z.strictObject({ kind: z.literal('latest'), count: z.int().min(1).max(1_000) }),
  z.strictObject({ kind: z.literal('specific'), versions: z.array(z.int().min(0)).min(1).max(1_000) }),
]);
export type VersionPolicy = z.infer<typeof VersionPolicySchema>;
