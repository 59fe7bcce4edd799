import { describe, expect, it } from 'vitest';
import { classMetrics, sumConfusions, type ConfusionMatrix } from '../../../shared/aggregation/class-metrics.js';
import { confusionAsSecureUpdate, confusionFromSecureMean } from '../../../shared/aggregation/secure-confusion.js';
import type { ActivePhase } from '../../../shared/secagg/index.js';
import { clientIds, runSecAgg } from '../secagg/driver.js';

const CLASSES = 10;
const MAX_WEIGHT = 5000;

/** A client's held-out confusion matrix: mostly right, errors spread by a fixed pattern. */
function clientMatrix(i: number): ConfusionMatrix {
  return Array.from({ length: CLASSES }, (_, t) =>
    Array.from({ length: CLASSES }, (_, p) => (t === p ? 20 + ((i * 7 + t * 13) % 90) : (i + t * 3 + p * 5) % 4)),
  );
}

const total = (m: ConfusionMatrix) => m.flat().reduce((a, b) => a + b, 0);

describe('confusion matrices under secure aggregation', () => {
  it('the SecAgg+ sum of 12 clients (2 dropping out) equals the plaintext sum of the survivors, count for count', async () => {
    const ids = clientIds(12);
    const matrices = new Map(ids.map((id, i) => [id, clientMatrix(i)]));
    const run = await runSecAgg({
      clients: ids.length,
      vectorLength: CLASSES * CLASSES,
      clip: 1,
      maxWeight: MAX_WEIGHT,
      update: (id) => confusionAsSecureUpdate(matrices.get(id)!, total(matrices.get(id)!), MAX_WEIGHT),
      dropAt: new Map<string, ActivePhase>([
        [ids[3], 'masked-input'],
        [ids[8], 'masked-input'],
      ]),
    });
    const outcome = run.outcome;
    if (outcome.kind !== 'done') throw new Error(`secure round aborted: ${outcome.reason}`);
    const survivors = outcome.result.survivors;
    expect(survivors).toHaveLength(10);
    const plain = sumConfusions(survivors.map((id) => matrices.get(id)!));
    const secure = confusionFromSecureMean(outcome.result.mean, outcome.result.totalWeight, CLASSES);
    expect(secure).toEqual(plain);
    expect(classMetrics(secure)).toEqual(classMetrics(plain));
  });

  it('refuses a matrix that does not count the reported examples, or more examples than the weight cap', () => {
    const m = clientMatrix(1);
    expect(() => confusionAsSecureUpdate(m, total(m) + 1, MAX_WEIGHT)).toThrow(
      `the confusion matrix counts ${total(m)} examples, the report says ${total(m) + 1}`,
    );
    expect(() => confusionAsSecureUpdate(m, total(m), 100)).toThrow(
      `${total(m)} held-out examples exceed the secure weight cap 100`,
    );
  });
});
