import { permutation, seededRng } from '../../shared/random.js';
import type { DropPlan } from './host-messages.js';

/**
 * The clients that leave round `round`: round(rate * n) of `names`, drawn with a seed. In secure
 * rounds the dropouts are spread over the `stages` secure messages a client sends (rotating with
 * the round, so every stage gets dropouts even when only one client leaves); in plaintext rounds
 * (`stages` = 0) they leave before uploading.
 */
export function dropPlan(
  names: readonly string[],
  rate: number,
  round: number,
  stages: number,
  seed: number,
): DropPlan {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  const order = permutation(names.length, seededRng((seed * 1_000_003 + round) >>> 0));
  const count = Math.round(rate * names.length);
  const drops: Record<string, number> = {};
  for (let j = 0; j < count; j++) drops[names[order[j]]] = stages > 0 ? (j + round) % stages : 0;
  return { round, drops };
}
