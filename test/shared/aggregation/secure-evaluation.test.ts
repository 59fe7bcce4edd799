import { describe, expect, it } from 'vitest';
import { classMetrics, sumConfusions, type ConfusionMatrix } from '../../../shared/aggregation/class-metrics.js';
import {
  decodeEvaluation,
  encodeEvaluation,
  EXACT_SUM_LIMIT,
  LOSS_CAP,
  MAX_SECURE_EVAL_EXAMPLES,
  MAX_SECURE_EVALUATORS,
  secureEvaluationEncoding,
  secureEvaluationSetupProblem,
  type LocalEvaluation,
} from '../../../shared/aggregation/secure-evaluation.js';
import { decodeSum, encodeUpdate, fixedPointScale, type ActivePhase } from '../../../shared/secagg/index.js';
import { clientIds, runSecAgg } from '../secagg/driver.js';

const CLASSES = 10;

/** A client's held-out confusion matrix with `perCell` examples per cell on average: mostly right, errors by a fixed pattern. */
function clientMatrix(i: number, perCell: number): ConfusionMatrix {
  return Array.from({ length: CLASSES }, (_, t) =>
    Array.from({ length: CLASSES }, (_, p) =>
      t === p ? 5 * perCell + ((i * 7 + t * 13) % (4 * perCell)) : (i + t * 3 + p * 5) % perCell,
    ),
  );
}

const total = (m: ConfusionMatrix) => m.flat().reduce((a, b) => a + b, 0);

function evaluation(i: number, perCell: number): LocalEvaluation {
  const confusion = clientMatrix(i, perCell);
  return { confusion, numExamples: total(confusion), loss: 0.05 + ((i * 37) % 100) / 40 };
}

/** The plaintext figures of `evaluations`: summed matrix and example-weighted loss. */
function plaintext(evaluations: readonly LocalEvaluation[]) {
  const confusion = sumConfusions(evaluations.map((e) => e.confusion));
  const n = total(confusion);
  return { confusion, numExamples: n, loss: evaluations.reduce((a, e) => a + e.loss * e.numExamples, 0) / n };
}

describe('federated evaluation as a SecAgg+ sum', () => {
  it('the clip makes the fixed-point scale exactly 1, so a count is its own word, for 3 to 32,767 clients', () => {
    for (const n of [3, 5, 7, 1000, 4096, 32_767]) {
      const { clip, maxWeight } = secureEvaluationEncoding(n, CLASSES);
      expect(fixedPointScale({ clip, maxWeight, maxClients: n })).toBe(1);
      expect(n * clip).toBeLessThan(2 ** 31);
    }
    expect(() => secureEvaluationEncoding(32_768, CLASSES)).toThrow('secure evaluation takes 1 to 32767 clients');
  });

  it('the SecAgg+ sum of 12 clients (2 dropping out) equals the plaintext sum of the survivors, count for count', async () => {
    const ids = clientIds(12);
    const enc = secureEvaluationEncoding(ids.length, CLASSES);
    const local = new Map(ids.map((id, i) => [id, evaluation(i, 6)]));
    const run = await runSecAgg({
      clients: ids.length,
      vectorLength: enc.vectorLength,
      clip: enc.clip,
      maxWeight: enc.maxWeight,
      update: (id) => ({ delta: encodeEvaluation(local.get(id)!, enc), numExamples: local.get(id)!.numExamples }),
      dropAt: new Map<string, ActivePhase>([
        [ids[3], 'masked-input'],
        [ids[8], 'masked-input'],
      ]),
    });
    const outcome = run.outcome;
    if (outcome.kind !== 'done') throw new Error(`secure round aborted: ${outcome.reason}`);
    expect(outcome.result.survivors).toHaveLength(10);
    const plain = plaintext(outcome.result.survivors.map((id) => local.get(id)!));
    const secure = decodeEvaluation(outcome.result.mean, outcome.result.survivors.length, enc);
    expect(secure.confusion).toEqual(plain.confusion);
    expect(secure.perClass).toEqual(classMetrics(plain.confusion));
    expect(secure.numExamples).toBe(plain.numExamples);
    expect(Math.abs(secure.loss - plain.loss)).toBeLessThanOrEqual(secure.lossErrorBound);
    expect(secure.lossErrorBound).toBeLessThan(1e-3);
  });

  it('1,000 clients holding 8,380,000 examples (just under 2^23) sum exactly: word sums decoded as the SecAgg+ server decodes them', () => {
    // Masks cancel in the sum, so the words' plain sum is what the server unmasks; the protocol itself is covered above.
    const n = 1000;
    const enc = secureEvaluationEncoding(n, CLASSES);
    const params = { clip: enc.clip, maxWeight: enc.maxWeight, maxClients: n };
    const evaluations = Array.from({ length: n }, (_, i) => evaluation(i, 60));
    // Cells of 8,380 examples per client: the diagonal near the limit of one summed cell.
    for (const e of evaluations) {
      e.confusion.forEach((row) => row.fill(0));
      e.confusion[0][0] = 8_000;
      e.confusion[1][2] = 380 - (e.numExamples % 7);
      e.confusion[3][3] = e.numExamples % 7;
      e.numExamples = 8_380;
    }
    const sum = new Uint32Array(enc.vectorLength + 1);
    for (const e of evaluations) {
      const words = encodeUpdate(encodeEvaluation(e, enc), e.numExamples, params);
      for (let i = 0; i < words.length; i++) sum[i] += words[i];
    }
    const { mean, totalWeight } = decodeSum(sum, params);
    expect(totalWeight).toBe(n);
    const plain = plaintext(evaluations);
    expect(plain.numExamples).toBe(8_380_000);
    expect(plain.confusion[0][0]).toBeGreaterThan(EXACT_SUM_LIMIT * 0.95);
    const secure = decodeEvaluation(mean, n, enc);
    expect(secure.confusion).toEqual(plain.confusion);
    expect(secure.numExamples).toBe(plain.numExamples);
    expect(Math.abs(secure.loss - plain.loss)).toBeLessThanOrEqual(secure.lossErrorBound);
  });

  it('refuses a cell sum from 2^23 on, which float32 cannot carry exactly', () => {
    const enc = secureEvaluationEncoding(5, 2);
    const mean = Float32Array.of(EXACT_SUM_LIMIT / 5, 0, 0, 1, 0);
    expect(() => decodeEvaluation(mean, 5, enc)).toThrow(
      `confusion cell 0 sums to about ${EXACT_SUM_LIMIT}: counts from ${EXACT_SUM_LIMIT - 1} on cannot be recovered exactly`,
    );
  });

  it('clamps the loss to [0, LOSS_CAP] and refuses what it cannot encode exactly', () => {
    const enc = secureEvaluationEncoding(5, 2);
    const confusion = [
      [3, 1],
      [0, 4],
    ];
    const high = encodeEvaluation({ confusion, numExamples: 8, loss: 1e6 }, enc);
    expect(high[4]).toBeCloseTo(LOSS_CAP * 8 * enc.lossUnit, 0);
    expect(Array.from(high.slice(0, 4))).toEqual([3, 1, 0, 4]);
    expect(encodeEvaluation({ confusion, numExamples: 8, loss: -3 }, enc)[4]).toBe(0);
    expect(() => encodeEvaluation({ confusion, numExamples: 9, loss: 1 }, enc)).toThrow(
      'the confusion matrix counts 8 examples, the evaluation 9',
    );
    expect(() => encodeEvaluation({ confusion: [[8]], numExamples: 8, loss: 1 }, enc)).toThrow(
      'the held-out confusion matrix has 1 classes, the session 2',
    );
    const big = MAX_SECURE_EVAL_EXAMPLES + 1;
    expect(() =>
      encodeEvaluation(
        {
          confusion: [
            [big, 0],
            [0, 0],
          ],
          numExamples: big,
          loss: 1,
        },
        enc,
      ),
    ).toThrow(`${big} held-out examples exceed the ${MAX_SECURE_EVAL_EXAMPLES} one client may evaluate securely`);
    expect(() => encodeEvaluation({ confusion, numExamples: 8, loss: NaN }, enc)).toThrow('the held-out loss is NaN');
  });

  it('a client refuses any setup but the exact-count encoding of its participant count', () => {
    const enc = secureEvaluationEncoding(4, CLASSES);
    const setup = {
      round: 1,
      nonce: new Uint8Array(32),
      participants: clientIds(4).map((id) => ({ id, identityKey: new Uint8Array(32) })),
      k: 3,
      threshold: 3,
      vectorLength: enc.vectorLength,
      clip: enc.clip,
      maxWeight: 1,
    };
    expect(secureEvaluationSetupProblem(setup, CLASSES)).toBeUndefined();
    expect(secureEvaluationSetupProblem({ ...setup, clip: enc.clip * 2 }, CLASSES)).toBe(
      `its clip ${enc.clip * 2} is not ${enc.clip}, the exact-count clip for 4 participants`,
    );
    expect(secureEvaluationSetupProblem({ ...setup, maxWeight: 50 }, CLASSES)).toBe('its weight cap is 50, not 1');
    expect(secureEvaluationSetupProblem({ ...setup, wordBits: 16 }, CLASSES)).toBe(
      'it asks for 16-bit words; secure evaluation uses 32',
    );
    expect(secureEvaluationSetupProblem({ ...setup, vectorLength: 50 }, CLASSES)).toBe(
      'its vector has 50 values, not 101 (10x10 counts and the loss)',
    );
  });

  it('derives the clip, vector length and loss unit from the participant and class counts alone', () => {
    const one = secureEvaluationEncoding(1, 1);
    expect(one).toEqual({ clip: 2 ** 31 - 2, maxWeight: 1, vectorLength: 2, lossUnit: (2 ** 31 - 2) / (32 * 65_536) });
    // floor((2^31 - 1) / 3) - 1 = 715,827,882 - 1.
    expect(secureEvaluationEncoding(3, 4)).toMatchObject({ clip: 715_827_881, vectorLength: 17 });
    expect(secureEvaluationEncoding(MAX_SECURE_EVALUATORS, 2).clip).toBe(65_537);
    expect(LOSS_CAP * MAX_SECURE_EVAL_EXAMPLES * one.lossUnit).toBe(one.clip);
  });

  it('refuses a participant count outside 1 to MAX_SECURE_EVALUATORS and a class count below 1, naming the value', () => {
    for (const n of [0, -1, 1.5, NaN, MAX_SECURE_EVALUATORS + 1])
      expect(() => secureEvaluationEncoding(n, 2)).toThrow(
        new Error(`secure evaluation takes 1 to 32767 clients, got ${n}`),
      );
    for (const k of [0, -2, 2.5, Infinity])
      expect(() => secureEvaluationEncoding(3, k)).toThrow(
        new Error(`secure evaluation needs a positive class count, got ${k}`),
      );
  });

  it('encodes the loss word as clamp(loss, 0, LOSS_CAP) x examples x lossUnit, and accepts 1 and MAX_SECURE_EVAL_EXAMPLES examples', () => {
    const enc = secureEvaluationEncoding(5, 2);
    const one = [
      [0, 1],
      [0, 0],
    ];
    expect(Array.from(encodeEvaluation({ confusion: one, numExamples: 1, loss: 1.5 }, enc))).toEqual([
      0,
      1,
      0,
      0,
      Math.fround(1.5 * enc.lossUnit),
    ]);
    expect(encodeEvaluation({ confusion: one, numExamples: 1, loss: LOSS_CAP }, enc)[4]).toBe(
      Math.fround(LOSS_CAP * enc.lossUnit),
    );
    expect(encodeEvaluation({ confusion: one, numExamples: 1, loss: 0 }, enc)[4]).toBe(0);
    const most = [
      [MAX_SECURE_EVAL_EXAMPLES, 0],
      [0, 0],
    ];
    const word = encodeEvaluation({ confusion: most, numExamples: MAX_SECURE_EVAL_EXAMPLES, loss: 1e9 }, enc)[4];
    // The largest loss word is the clip itself.
    expect(word).toBe(Math.fround(enc.clip));
  });

  it('refuses an evaluation of no examples, a non-count entry and an infinite loss, with exact errors', () => {
    const enc = secureEvaluationEncoding(5, 2);
    const none = [
      [0, 0],
      [0, 0],
    ];
    expect(() => encodeEvaluation({ confusion: none, numExamples: 0, loss: 1 }, enc)).toThrow(
      new Error('the confusion matrix counts 0 examples, the evaluation 0'),
    );
    const negative = [
      [3, -1],
      [0, 4],
    ];
    expect(() => encodeEvaluation({ confusion: negative, numExamples: 6, loss: 1 }, enc)).toThrow(
      new Error('the held-out confusion matrix: entry [0][1] is -1, not a count'),
    );
    const fine = [
      [3, 1],
      [0, 4],
    ];
    expect(() => encodeEvaluation({ confusion: fine, numExamples: 8, loss: Infinity }, enc)).toThrow(
      new Error('the held-out loss is Infinity'),
    );
  });

  it('decodes counts, accuracy, clamped loss and the bound (S + |loss words| x 2^-23) / (lossUnit x n)', () => {
    const enc = secureEvaluationEncoding(5, 2);
    // One survivor: the mean is the sum, so every figure is known exactly.
    const lossWords = Math.fround(2 * 8 * enc.lossUnit);
    const sum = decodeEvaluation(Float32Array.of(3, 1, 0, 4, lossWords), 1, enc);
    expect(sum.confusion).toEqual([
      [3, 1],
      [0, 4],
    ]);
    expect(sum.numExamples).toBe(8);
    expect(sum.accuracy).toBe(7 / 8);
    expect(sum.loss).toBe(lossWords / enc.lossUnit / 8);
    expect(sum.loss).toBeCloseTo(2, 6);
    expect(sum.lossErrorBound).toBe((1 + lossWords * 2 ** -23) / (enc.lossUnit * 8));
    expect(decodeEvaluation(Float32Array.of(3, 1, 0, 4, -lossWords), 1, enc).loss).toBe(0);
    const over = Math.fround(LOSS_CAP * 2 * 8 * enc.lossUnit);
    expect(decodeEvaluation(Float32Array.of(3, 1, 0, 4, over), 1, enc).loss).toBe(LOSS_CAP);
  });

  it('accepts a cell sum of 2^23 - 2 and refuses 2^23 - 1 (the margin for float32 rounding of mean x S)', () => {
    const enc = secureEvaluationEncoding(1, 2);
    const below = EXACT_SUM_LIMIT - 2;
    expect(decodeEvaluation(Float32Array.of(0, below, 0, 0, 0), 1, enc).confusion).toEqual([
      [0, below],
      [0, 0],
    ]);
    expect(() => decodeEvaluation(Float32Array.of(0, below + 1, 0, 0, 0), 1, enc)).toThrow(
      new Error(
        `confusion cell 1 sums to about ${below + 1}: counts from ${EXACT_SUM_LIMIT - 1} on cannot be recovered exactly from the float32 secure mean`,
      ),
    );
  });

  it('refuses a sum of the wrong length and one counting no examples', () => {
    const enc = secureEvaluationEncoding(5, 2);
    expect(() => decodeEvaluation(new Float32Array(4), 5, enc)).toThrow(
      new Error('the secure evaluation sum has 4 values, expected 5'),
    );
    expect(() => decodeEvaluation(Float32Array.of(0, 0, 0, 0, 3), 5, enc)).toThrow(
      new Error('the secure evaluation sum counts no examples'),
    );
  });

  it('a client accepts MAX_SECURE_EVALUATORS participants and refuses one more with a reason, not an exception', () => {
    const setupOf = (n: number) => {
      const enc = secureEvaluationEncoding(Math.min(n, MAX_SECURE_EVALUATORS), 2);
      return {
        round: 1,
        nonce: new Uint8Array(32),
        participants: Array.from({ length: n }, (_, i) => ({ id: `c${i}`, identityKey: new Uint8Array(32) })),
        k: 3,
        threshold: 3,
        vectorLength: enc.vectorLength,
        clip: enc.clip,
        maxWeight: 1,
      };
    };
    expect(secureEvaluationSetupProblem(setupOf(MAX_SECURE_EVALUATORS), 2)).toBeUndefined();
    expect(secureEvaluationSetupProblem(setupOf(MAX_SECURE_EVALUATORS + 1), 2)).toBe(
      'it has 32768 participants, more than 32767',
    );
  });
});
