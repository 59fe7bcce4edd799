import { describe, expect, it } from 'vitest';
import { CLIENT_LIMITS, EvaluationReportSchema, UpdateMetaSchema } from '../../../shared/protocol/messages.js';

const update = { round: 3, numExamples: 600, metrics: { loss: 0.4, accuracy: 0.9 }, trainMs: 1200 };
const report = { round: 3, metrics: { loss: 0.4, accuracy: 0.9, numExamples: 100 }, evalMs: 50 };

describe('client-reported numbers are bounded where they are parsed', () => {
  it('accepts ordinary and boundary values', () => {
    expect(UpdateMetaSchema.safeParse(update).success).toBe(true);
    const edge = {
      round: CLIENT_LIMITS.maxRound,
      numExamples: CLIENT_LIMITS.maxExamples,
      metrics: { loss: -CLIENT_LIMITS.maxAbsLoss, accuracy: 1 },
      trainMs: CLIENT_LIMITS.maxDurationMs,
      clipIndicator: -CLIENT_LIMITS.maxAbsClipIndicator,
    };
    expect(UpdateMetaSchema.safeParse(edge).success).toBe(true);
    expect(EvaluationReportSchema.safeParse(report).success).toBe(true);
    expect(EvaluationReportSchema.safeParse({ ...report, metrics: null }).success).toBe(true);
    expect(
      EvaluationReportSchema.safeParse({
        ...report,
        metrics: {
          ...report.metrics,
          confusion: [
            [60, 10],
            [5, 25],
          ],
        },
      }).success,
    ).toBe(true);
  });

  it.each([
    ['numExamples at 2^53 - 1', { numExamples: Number.MAX_SAFE_INTEGER }, 'numExamples'],
    ['numExamples above the cap', { numExamples: CLIENT_LIMITS.maxExamples + 1 }, 'numExamples'],
    ['a fractional numExamples', { numExamples: 1.5 }, 'numExamples'],
    ['a round beyond the cap', { round: 1e12 }, 'round'],
    ['a loss of 1e308', { metrics: { loss: 1e308, accuracy: 0.5 } }, 'metrics.loss'],
    ['a loss of -1e10', { metrics: { loss: -1e10, accuracy: 0.5 } }, 'metrics.loss'],
    ['a NaN loss', { metrics: { loss: Number.NaN, accuracy: 0.5 } }, 'metrics.loss'],
    ['an infinite trainMs', { trainMs: Number.POSITIVE_INFINITY }, 'trainMs'],
    ['a trainMs of 1e300', { trainMs: 1e300 }, 'trainMs'],
    ['a negative trainMs', { trainMs: -1 }, 'trainMs'],
    ['a huge clip indicator', { clipIndicator: 1e300 }, 'clipIndicator'],
  ])('UpdateMeta refuses %s', (_name, patch, path) => {
    const parsed = UpdateMetaSchema.safeParse({ ...update, ...patch });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it.each([
    [
      'numExamples at 2^53 - 1',
      { metrics: { ...report.metrics, numExamples: Number.MAX_SAFE_INTEGER } },
      'metrics.numExamples',
    ],
    ['a loss of 1e308', { metrics: { ...report.metrics, loss: 1e308 } }, 'metrics.loss'],
    ['an evalMs of 1e300', { evalMs: 1e300 }, 'evalMs'],
    ['a round beyond the cap', { round: CLIENT_LIMITS.maxRound + 1 }, 'round'],
    [
      'a confusion matrix not counting numExamples',
      {
        metrics: {
          ...report.metrics,
          confusion: [
            [60, 10],
            [5, 26],
          ],
        },
      },
      'metrics.confusion',
    ],
    [
      'a non-square confusion matrix',
      {
        metrics: {
          ...report.metrics,
          confusion: [
            [60, 10, 0],
            [5, 25, 0],
          ],
        },
      },
      'metrics.confusion',
    ],
    [
      'a negative count',
      {
        metrics: {
          ...report.metrics,
          confusion: [
            [60, 20],
            [-5, 25],
          ],
        },
      },
      'metrics.confusion.1.0',
    ],
  ])('EvaluationReport refuses %s', (_name, patch, path) => {
    const parsed = EvaluationReportSchema.safeParse({ ...report, ...patch });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});
