/**
 * Per-class evaluation from a confusion matrix: confusion[t][p] counts examples of true class t
 * predicted as class p. Matrices of several clients add up entry by entry, so federated evaluation
 * sums them (in the clear, or inside a secure sum) and derives the metrics from the total.
 */
export type ConfusionMatrix = number[][];

export interface ClassMetrics {
  /** Of the examples predicted as this class, the fraction that are (0 when none was predicted). */
  precision: number;
  /** Of the examples of this class, the fraction predicted right: the per-class accuracy. */
  recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
  /** Examples of this class. */
  support: number;
}

export function emptyConfusion(numClasses: number): ConfusionMatrix {
  return Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
}

/** Checks a matrix is square with non-negative integer counts; `what` names it in the error. */
export function checkConfusion(m: ConfusionMatrix, what: string): void {
  const k = m.length;
  if (k < 1) throw new Error(`${what}: a confusion matrix needs at least one class`);
  m.forEach((row, t) => {
    if (row.length !== k) throw new Error(`${what}: row ${t} has ${row.length} entries, the matrix has ${k} classes`);
    row.forEach((v, p) => {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${what}: entry [${t}][${p}] is ${v}, not a count`);
    });
  });
}

/** The entry-wise sum of several clients' matrices (all of one size). */
export function sumConfusions(matrices: readonly ConfusionMatrix[]): ConfusionMatrix {
  if (matrices.length === 0) throw new Error('cannot sum zero confusion matrices');
  const k = matrices[0].length;
  const out = emptyConfusion(k);
  matrices.forEach((m, i) => {
    checkConfusion(m, `confusion matrix #${i}`);
    if (m.length !== k) throw new Error(`confusion matrix #${i} has ${m.length} classes, the first has ${k}`);
    for (let t = 0; t < k; t++) for (let p = 0; p < k; p++) out[t][p] += m[t][p];
  });
  return out;
}

export function classMetrics(m: ConfusionMatrix): ClassMetrics[] {
  const k = m.length;
  return m.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    let predicted = 0;
    for (let t = 0; t < k; t++) predicted += m[t][c];
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { precision, recall, f1, support };
  });
}

/** The matrix row-major as one flat vector (what a secure sum adds). */
export function flattenConfusion(m: ConfusionMatrix): Float64Array {
  const k = m.length;
  const out = new Float64Array(k * k);
  m.forEach((row, t) => out.set(row, t * k));
  return out;
}

/** Inverse of flattenConfusion for a summed vector, rounding to the nearest count. */
export function unflattenConfusion(flat: ArrayLike<number>, numClasses: number): ConfusionMatrix {
  if (flat.length !== numClasses * numClasses)
    throw new Error(
      `a ${numClasses}-class confusion matrix has ${numClasses * numClasses} entries, got ${flat.length}`,
    );
  return Array.from({ length: numClasses }, (_, t) =>
    Array.from({ length: numClasses }, (_, p) => Math.max(0, Math.round(flat[t * numClasses + p]))),
  );
}
