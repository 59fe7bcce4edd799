import * as tf from '@tensorflow/tfjs';

/** Name and shape of one weight tensor, in the model's `getWeights()` order. */
export interface WeightSpec {
  name: string;
  shape: number[];
}

export function weightSpecs(model: tf.LayersModel): WeightSpec[] {
  return model.weights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
}

export function parameterCount(specs: WeightSpec[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** All weights concatenated into one Float32Array: the unit that is averaged, masked and sent. */
export function getFlatWeights(model: tf.LayersModel): Float32Array {
  const tensors = model.getWeights();
  const total = tensors.reduce((s, t) => s + t.size, 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const t of tensors) {
    flat.set(t.dataSync(), off);
    off += t.size;
  }
  return flat;
}

/**
 * local - global, element by element: a client's update. Its own small function so the loop stays
 * optimized code: inside the client's long async task handler, which V8 deoptimizes round after
 * round, it ran in baseline code.
 */
export function weightDelta(local: Float32Array, global: Float32Array): Float32Array {
  if (local.length !== global.length)
    throw new Error(`local weights have ${local.length} values, the global model ${global.length}`);
  const delta = new Float32Array(local.length);
  for (let i = 0; i < delta.length; i++) delta[i] = local[i] - global[i];
  return delta;
}

/** Inverse of getFlatWeights; throws, changing nothing, when the length does not match. */
export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const specs = weightSpecs(model);
  const expected = parameterCount(specs);
  if (flat.length !== expected) {
    throw new Error(`weight vector has ${flat.length} values, the model needs ${expected}`);
  }
  let off = 0;
  const tensors = specs.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(flat.subarray(off, off + size), s.shape, 'float32');
    off += size;
    return t;
  });
  model.setWeights(tensors);
  tensors.forEach((t) => t.dispose());
}
