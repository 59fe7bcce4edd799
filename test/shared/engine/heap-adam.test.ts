import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { HeapAdam } from '../../../shared/engine/wasm/heap-adam.js';
import { seededRng } from '../../../shared/random.js';

beforeAll(async () => {
  await setupBackend('wasm', { log: () => {}, argv: [], env: {} });
});

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rng = seededRng(seed);
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * scale);
}

/** Values of variables shaped like a small model's after `steps` updates by `optimizer`. */
function run(optimizer: tf.Optimizer, steps: number): Float32Array[] {
  const shapes = [[3, 3, 1, 4], [4], [7, 5], [5]];
  const vars = shapes.map((shape, i) =>
    tf.variable(
      tf.tensor(randomArray(tf.util.sizeFromShape(shape), i + 1), shape),
      true,
      `heap-adam-${i}-${Math.random()}`,
    ),
  );
  for (let s = 0; s < steps; s++) {
    const grads: tf.NamedTensorMap = {};
    // Gradients spanning magnitudes, including zeros (where epsilon matters).
    vars.forEach((v, i) => {
      const g = randomArray(v.size, 100 * s + i, 10 ** ((s % 5) - 3));
      if (s % 3 === 0) g.fill(0, 0, Math.floor(g.length / 2));
      grads[v.name] = tf.tensor(g, v.shape);
    });
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const values = vars.map((v) => v.dataSync() as Float32Array);
  tf.dispose(vars);
  return values;
}

describe('HeapAdam', () => {
  it('updates bit for bit as tf.train.adam does, over many steps and gradient scales', () => {
    for (const [lr, b1, b2] of [
      [1e-3, 0.9, 0.999],
      [0.05, 0.8, 0.99],
    ]) {
      const stock = tf.train.adam(lr, b1, b2);
      const ours = new HeapAdam(lr, b1, b2);
      expect(run(ours, 12)).toEqual(run(stock, 12));
      expect(ours.iterations).toBe(12);
      stock.dispose();
      ours.dispose();
    }
  });

  it('leaves tensors sharing the old weights buffer unchanged, and leaks no tensor', () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, `heap-adam-shared-${Math.random()}`);
    const anchor = w.clone(); // our Identity kernel shares the buffer
    const before = tf.memory().numTensors;
    const adam = new HeapAdam(0.1);
    const g = tf.tensor1d([1, -1, 0.5]);
    adam.applyGradients({ [w.name]: g });
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(anchor.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(w.dataSync())).not.toEqual([1, 2, 3]);
    tf.dispose([w, anchor]);
  });

  it('refuses a gradient for an unknown variable or of the wrong size', () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, `heap-adam-bad-${Math.random()}`);
    const adam = new HeapAdam(0.1);
    const short = tf.tensor1d([1, 2]);
    expect(() => adam.applyGradients({ 'no-such-variable': short })).toThrow("no variable named 'no-such-variable'");
    expect(() => adam.applyGradients({ [w.name]: short })).toThrow('must be float32 of the same size');
    tf.dispose([w, short]);
  });
  it("frees its moments' heap buffers when disposed", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3, 4, 5]), true, `heap-adam-free-${Math.random()}`);
    const g = tf.tensor1d([1, -1, 0.5, 0, 2]);
    // The moments are heap buffers, not tensors: count the backend's buffers, not the engine's.
    const buffers = () => tf.backend().numDataIds();
    const adam = new HeapAdam(0.1);
    adam.applyGradients({ [w.name]: g });
    const before = buffers();
    adam.applyGradients({ [w.name]: g });
    expect(buffers()).toBe(before);
    adam.dispose();
    expect(buffers()).toBe(before - 2);
    tf.dispose([w, g]);
  });
});
