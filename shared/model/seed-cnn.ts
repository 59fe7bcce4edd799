import * as tf from '@tensorflow/tfjs';

/**
 * The seed CNN of the `mnist` task: conv 32 3x3 relu, maxpool 2, conv 64 3x3 relu, maxpool 2,
 * flatten, dense 64 relu, dense 10 softmax. Seeded initializers so two processes that build it
 * with the same seed start from the same weights.
 */
export function createSeedCnn(seed = 42): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  return tf.sequential({
    name: 'mnist_seed_cnn',
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 32,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: init(1),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}
