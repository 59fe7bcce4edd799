import { describe, expect, it } from 'vitest';
import { aggregateMetrics } from '../../../shared/aggregation/evaluation.js';

describe('aggregateMetrics', () => {
  it('weights loss and accuracy by each client’s number of examples', () => {
    // loss (10*1 + 30*2) / 40 = 1.75; accuracy (10*0.5 + 30*1) / 40 = 0.875
    expect(
      aggregateMetrics([
        { loss: 1, accuracy: 0.5, numExamples: 10 },
        { loss: 2, accuracy: 1, numExamples: 30 },
      ]),
    ).toEqual({ loss: 1.75, accuracy: 0.875, numExamples: 40, clients: 2 });
  });

  it('names the client with unusable metrics', () => {
    expect(() => aggregateMetrics([])).toThrow(/zero clients/);
    expect(() => aggregateMetrics([{ loss: 1, accuracy: 0.5, numExamples: 0 }])).toThrow(/zero examples/);
    expect(() =>
      aggregateMetrics([
        { loss: 1, accuracy: 0.5, numExamples: 1 },
        { loss: NaN, accuracy: 0.5, numExamples: 1 },
      ]),
    ).toThrow(/client #1 have a non-finite loss/);
    expect(() => aggregateMetrics([{ loss: 1, accuracy: 1.5, numExamples: 1 }])).toThrow(/accuracy outside \[0, 1\]/);
    expect(() => aggregateMetrics([{ loss: 1, accuracy: -0.1, numExamples: 1 }])).toThrow(
      'metrics of client #0 have an accuracy outside [0, 1] (-0.1)',
    );
    for (const bad of [-1, NaN, Infinity]) {
      expect(() =>
        aggregateMetrics([
          { loss: 1, accuracy: 0.5, numExamples: 3 },
          { loss: 1, accuracy: 0.5, numExamples: bad },
        ]),
      ).toThrow(`metrics of client #1 have an invalid number of examples (${bad})`);
    }
  });

  it('takes accuracies 0 and 1 and a client with no examples', () => {
    expect(
      aggregateMetrics([
        { loss: 2, accuracy: 0, numExamples: 1 },
        { loss: 4, accuracy: 1, numExamples: 3 },
        { loss: 9, accuracy: 0.5, numExamples: 0 },
      ]),
    ).toEqual({ loss: 3.5, accuracy: 0.75, numExamples: 4, clients: 3 });
  });
});
