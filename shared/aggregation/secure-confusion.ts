import { flattenConfusion, unflattenConfusion, type ConfusionMatrix } from './class-metrics.js';

/**
 * A confusion matrix as a SecAgg+ update, so that a secure sum yields the clients' summed matrix
 * while the coordinator never sees one client's. SecAgg+ returns the weighted mean of updates
 * clipped to [-clip, clip] with weights min(numExamples, maxWeight); sending counts / numExamples
 * (fractions in [0, 1], clip 1) with weight numExamples makes that mean sum(counts) / sum(examples),
 * and the total weight it reports turns it back into counts.
 */
export interface SecureConfusionUpdate {
  delta: Float32Array;
  numExamples: number;
}

export function confusionAsSecureUpdate(
  m: ConfusionMatrix,
  numExamples: number,
  maxWeight: number,
): SecureConfusionUpdate {
  const flat = flattenConfusion(m);
  const total = flat.reduce((a, b) => a + b, 0);
  if (total !== numExamples)
    throw new Error(`the confusion matrix counts ${total} examples, the report says ${numExamples}`);
  if (numExamples < 1) throw new Error('a confusion matrix over zero examples has nothing to add');
  // A capped weight would scale this client's counts down in the sum.
  if (numExamples > maxWeight)
    throw new Error(`${numExamples} held-out examples exceed the secure weight cap ${maxWeight}; raise maxWeight`);
  return { delta: Float32Array.from(flat, (v) => v / numExamples), numExamples };
}

/** The summed matrix from the secure mean and its total weight (sum of the clients' example counts). */
export function confusionFromSecureMean(mean: Float32Array, totalWeight: number, numClasses: number): ConfusionMatrix {
  return unflattenConfusion(
    Array.from(mean, (v) => v * totalWeight),
    numClasses,
  );
}
