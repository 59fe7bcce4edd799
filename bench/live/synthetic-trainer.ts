import type { OffThreadTrainer } from '../../client/node-client.js';
import { seededRng } from '../../shared/random.js';

/** Largest |delta| per coordinate: well inside secure aggregation's default clip range of 1. */
const DELTA_SCALE = 0.01;

/**
 * Stands in for training so a bench can run hundreds of real clients on two cores: returns the
 * global weights plus a small random delta, seeded by the client and the round's training seed
 * (so reruns send the same updates), and a made-up example count, loss and accuracy.
 */
export function syntheticTrainer(clientIndex: number, baseSeed: number): OffThreadTrainer {
  return async ({ weights, config }) => {
    const rng = seededRng((baseSeed * 1_000_003 + clientIndex * 7_919 + (config.seed ?? 0)) >>> 0);
    const local = new Float32Array(weights.length);
    for (let i = 0; i < local.length; i++) local[i] = weights[i] + (rng() * 2 - 1) * DELTA_SCALE;
    return { weights: local, result: { loss: 1 + rng(), accuracy: rng(), numExamples: 20 + (clientIndex % 81) } };
  };
}
