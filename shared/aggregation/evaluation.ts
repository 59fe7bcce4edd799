/** One client's metrics for a round (TrainResult and EvalResult both fit). */
export interface ClientMetrics {
  loss: number;
  accuracy: number;
  numExamples: number;
}

export interface AggregatedMetrics {
  /** Example-weighted mean loss (Flower's weighted_loss_avg). */
  loss: number;
  /** Example-weighted mean accuracy: the accuracy over all the clients' examples together. */
  accuracy: number;
  numExamples: number;
  clients: number;
}

/** Federated evaluation: weights each client's loss and accuracy by its number of examples. */
export function aggregateMetrics(results: readonly ClientMetrics[]): AggregatedMetrics {
  if (results.length === 0) throw new Error('cannot aggregate metrics of zero clients');
  let loss = 0;
  let accuracy = 0;
  let numExamples = 0;
  results.forEach((r, i) => {
    if (!Number.isFinite(r.numExamples) || r.numExamples < 0) {
      throw new Error(`metrics of client #${i} have an invalid number of examples (${r.numExamples})`);
    }
    if (!Number.isFinite(r.loss)) throw new Error(`metrics of client #${i} have a non-finite loss (${r.loss})`);
    if (!(r.accuracy >= 0 && r.accuracy <= 1))
      throw new Error(`metrics of client #${i} have an accuracy outside [0, 1] (${r.accuracy})`);
    loss += r.numExamples * r.loss;
    accuracy += r.numExamples * r.accuracy;
    numExamples += r.numExamples;
  });
  if (numExamples === 0) throw new Error('cannot aggregate metrics over zero examples');
  return { loss: loss / numExamples, accuracy: accuracy / numExamples, numExamples, clients: results.length };
}
