import * as tf from '@tensorflow/tfjs';
import { featureSize, type Dataset } from './data/dataset.js';
import { getFlatWeights, parameterCount, weightSpecs, type WeightSpec } from './model/weights.js';
import type { TaskInfo } from './protocol/messages.js';

/**
 * A federated task: a tfjs Layers model's topology and weight layout plus its starting weights.
 * The coordinator sends the topology to clients, so any Layers classifier can be federated.
 */
export interface Task {
  info: TaskInfo;
  modelTopology: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  initialWeights: Float32Array;
}

/** Describes `model` as task `name`; it must map one input tensor to class probabilities. */
export function taskFromModel(name: string, model: tf.LayersModel): Task {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(
      `task ${name}: the model must have one input and one output, it has ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const inputShape = model.inputs[0].shape.slice(1);
  const outputShape = model.outputs[0].shape.slice(1);
  if (inputShape.some((d) => d === null) || outputShape.length !== 1 || outputShape[0] === null) {
    throw new Error(
      `task ${name}: the model needs a fixed input shape and a [classes] output, got [${inputShape.join(',')}] -> [${outputShape.join(',')}]`,
    );
  }
  const specs = weightSpecs(model);
  return {
    info: {
      name,
      inputShape: inputShape as number[],
      numClasses: outputShape[0],
      parameterCount: parameterCount(specs),
    },
    modelTopology: model.toJSON(null, false) as Record<string, unknown>,
    weightSpecs: specs,
    initialWeights: getFlatWeights(model),
  };
}

/** A fresh model with the task's architecture (its weights are then set from the coordinator's). */
export async function buildModel(modelTopology: Record<string, unknown>): Promise<tf.LayersModel> {
  return tf.models.modelFromJSON({ modelTopology: modelTopology as tf.io.ModelJSON['modelTopology'] });
}

/** Throws, naming the mismatch, when `ds` cannot be used to train or evaluate the task. */
export function assertDatasetFitsTask(ds: Dataset, info: TaskInfo, what: string): void {
  const want = info.inputShape.reduce((a, b) => a * b, 1);
  if (featureSize(ds) !== want) {
    throw new Error(
      `${what} has ${featureSize(ds)} features per example, task ${info.name} needs ${want} (shape [${info.inputShape.join(',')}])`,
    );
  }
  for (let i = 0; i < ds.n; i++) {
    if (ds.y[i] < 0 || ds.y[i] >= info.numClasses) {
      throw new Error(
        `${what}: example ${i + 1} has label ${ds.y[i]}, task ${info.name} has classes 0..${info.numClasses - 1}`,
      );
    }
  }
}
