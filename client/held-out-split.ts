import { subset, type Dataset } from '../shared/data/dataset.js';
import { permutation, seededRng } from '../shared/random.js';

/**
 * Holds back a seeded random `fraction` of a client's local examples for federated evaluation
 * (the rest trains). The same data, fraction and seed always give the same split.
 */
export function splitHeldOut(ds: Dataset, fraction: number, seed = 0): { train: Dataset; heldOut: Dataset } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`held-out fraction must be in [0, 1), got ${fraction}`);
  const order = permutation(ds.n, seededRng(seed));
  const k = Math.round(fraction * ds.n);
  if (ds.n - k < 1) throw new Error(`holding out ${k} of ${ds.n} examples leaves none to train on`);
  return { train: subset(ds, order.subarray(k)), heldOut: subset(ds, order.subarray(0, k)) };
}
