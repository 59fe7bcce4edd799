import { z } from 'zod';
import type { UpdateCodecSpec } from '../shared/compression/codec-spec.js';
import type { CoordinatorConfig } from './config.js';

/**
 * The coordinator config's `compression` section: how clients encode their updates
 * (shared/compression). One codec for every round, announced in each training task.
 */
export const CompressionConfigSchema = z
  .strictObject({
    codec: z.enum(['float32', 'int8', 'int4', 'topk']).default('float32'),
    /** topk: fraction of the parameters each update carries (the rest waits on the client, error feedback). */
    topkFraction: z.number().gt(0).max(1).default(0.1),
  })
  .transform((c): UpdateCodecSpec =>
    c.codec === 'topk' ? { codec: 'topk', fraction: c.topkFraction } : { codec: c.codec },
  );

/**
 * Refuses codecs a round cannot honour. Under secure aggregation only int8 applies, as smaller
 * masked words (shared/secagg/encoding.ts), and not with differential privacy, whose noise shares
 * must reach the sum on the fine grid; distributed DP needs exact noise shares in plaintext too.
 */
export function checkCompressionConfig(config: CoordinatorConfig): void {
  const { codec } = config.compression;
  if (codec === 'float32') return;
  if (config.secureAggregation.enabled && codec !== 'int8') {
    throw new Error(
      `compression.codec ${codec} works in plaintext rounds only; under secure aggregation use int8 (16-bit masked words) or float32`,
    );
  }
  if (config.secureAggregation.enabled && config.privacy) {
    throw new Error(
      'compression.codec int8 with secure aggregation cannot be combined with differential privacy: the noise shares need the 32-bit grid (use codec float32)',
    );
  }
  if (config.privacy?.mode === 'distributed') {
    throw new Error(
      `compression.codec ${codec} cannot be used with distributed differential privacy: each client's noise share must reach the sum exactly ` +
        '(use codec float32 or privacy.mode central, where the coordinator clips and noises after decoding)',
    );
  }
}
