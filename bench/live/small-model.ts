import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * Writes a softmax regression on 28x28x1 digits (7,850 parameters) as a tfjs Layers model.json
 * + weights.bin in `dir`, for the coordinator's `model` setting; returns the model.json path.
 */
export async function writeSoftmaxRegression(dir: string): Promise<string> {
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
  });
  try {
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        await writeFile(join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
        const manifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }];
        await writeFile(
          join(dir, 'model.json'),
          JSON.stringify({ format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: manifest }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
  } finally {
    model.dispose();
  }
  return join(dir, 'model.json');
}
