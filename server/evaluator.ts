import { classMetrics } from '../shared/aggregation/class-metrics.js';
import type { Dataset } from '../shared/data/dataset.js';
import { setFlatWeights } from '../shared/model/weights.js';
import type { Evaluation } from '../shared/protocol/rounds.js';
import { assertDatasetFitsTask, buildModel, type Task } from '../shared/task.js';
import { evaluate } from '../shared/training.js';

/** Scores candidate global weights on the coordinator's held-out data. */
export async function createEvaluator(
  task: Task,
  data: Dataset,
): Promise<(weights: Float32Array) => Promise<Evaluation>> {
  assertDatasetFitsTask(data, task.info, 'the evaluation data');
  const ds: Dataset = { ...data, inputShape: task.info.inputShape, numClasses: task.info.numClasses };
  const model = await buildModel(task.modelTopology);
  return async (weights) => {
    setFlatWeights(model, weights);
    const { loss, accuracy, numExamples, confusion } = await evaluate(model, ds);
    return { loss, accuracy, numExamples, confusion, perClass: classMetrics(confusion) };
  };
}
