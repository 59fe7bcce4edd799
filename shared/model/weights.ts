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
