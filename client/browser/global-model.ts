import * as tf from '@tensorflow/tfjs';
import { featureSize, type Dataset } from '../../shared/data/dataset.js';

export interface Prediction {
  version: number;
  predictedClass: number;
  probabilities: number[];
}

/**
 * A served global model version, downloaded as tfjs Layers files from the coordinator's REST API
 * (the same files `tf.loadLayersModel` users get), to predict local examples in the page.
 */
export class GlobalModel {
  private loaded: { version: number; model: tf.LayersModel } | undefined;

  constructor(private readonly taskName: string) {}

  async predict(version: number, ds: Dataset, index: number): Promise<Prediction> {
    if (!Number.isInteger(index) || index < 0 || index >= ds.n) throw new Error(`example # must be in 0..${ds.n - 1}`);
    const model = await this.model(version);
    const f = featureSize(ds);
    const probabilities = tf.tidy(() => {
      const input = tf.tensor(ds.x.subarray(index * f, (index + 1) * f), [
        1,
        ...(model.inputs[0].shape.slice(1) as number[]),
      ]);
      return (model.predict(input) as tf.Tensor).dataSync();
    });
    const values = Array.from(probabilities);
    return { version, predictedClass: values.indexOf(Math.max(...values)), probabilities: values };
  }

  private async model(version: number): Promise<tf.LayersModel> {
    if (this.loaded?.version === version) return this.loaded.model;
    const model = await tf.loadLayersModel(
      `/v1/models/${encodeURIComponent(this.taskName)}/versions/${version}/model.json`,
    );
    this.loaded?.model.dispose();
    this.loaded = { version, model };
    return model;
  }
}
