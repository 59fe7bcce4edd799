import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../../shared/engine/backend.js';
import { CONV_RELU_POOL } from '../../../shared/engine/wasm/conv-relu-pool.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import { applyForTraining } from '../../../shared/model/training-forward.js';
import { randomData, relativeL2, seededRng } from '../engine/kernel-cases.js';

const quiet = { log: () => {}, argv: [], env: {} };

beforeAll(async () => {
  await setupBackend('wasm', quiet);
});

/** applyForTraining's output, model.apply's, and how many fused ops the former ran. */
async function compare(model: tf.LayersModel, inputShape: number[]): Promise<[Float32Array, Float32Array, number]> {
  const xs = tf.tensor(
    randomData(
      inputShape.reduce((a, b) => a * b, 1),
      seededRng(11),
    ),
    inputShape,
  );
  let fused: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    fused = applyForTraining(model, xs);
  });
  const plain = model.apply(xs, { training: true }) as tf.Tensor;
  const values = [(await fused!.data()) as Float32Array, (await plain.data()) as Float32Array];
  tf.dispose([xs, fused!, plain]);
  return [values[0], values[1], profile.kernels.filter((k) => k.name === CONV_RELU_POOL).length];
}

describe('applyForTraining', () => {
  it('runs each conv + ReLU + 2x2 pooling pair of the seed CNN as one op, with model.apply output', async () => {
    const model = createSeedCnn(3);
    const [fused, plain, ops] = await compare(model, [5, 28, 28, 1]);
    expect(ops).toBe(2);
    expect(relativeL2(fused, plain)).toBeLessThanOrEqual(1e-5);
    model.dispose();
  });

  it('skips an explicit InputLayer, as in a model read back from JSON', async () => {
    const built = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [8, 8, 1] }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
      ],
    });
    // The topology as a client receives it: serialized, then read back.
    const model = await tf.models.modelFromJSON(
      built.toJSON(null, false) as Parameters<typeof tf.models.modelFromJSON>[0],
    );
    expect(model.layers[0].getClassName()).toBe('InputLayer');
    const [fused, plain, ops] = await compare(model, [2, 8, 8, 1]);
    expect(ops).toBe(1);
    expect(relativeL2(fused, plain)).toBeLessThanOrEqual(1e-5);
    built.dispose();
    model.dispose();
  });

  it('leaves other activations and pooling windows to model.apply', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 4, kernelSize: 3, activation: 'tanh' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 3 }),
        tf.layers.flatten(),
      ],
    });
    const [fused, plain, ops] = await compare(model, [2, 9, 9, 2]);
    expect(ops).toBe(0);
    expect(Array.from(fused)).toEqual(Array.from(plain));
    model.dispose();
  });

  it('is model.apply on the cpu backend', async () => {
    await setupBackend('cpu', quiet);
    const model = createSeedCnn(3);
    const [fused, plain, ops] = await compare(model, [2, 28, 28, 1]);
    expect(ops).toBe(0);
    expect(Array.from(fused)).toEqual(Array.from(plain));
    model.dispose();
    await setupBackend('wasm', quiet);
  });
});
