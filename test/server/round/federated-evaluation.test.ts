import { describe, expect, it } from 'vitest';
import { FederatedEvaluationRound, skippedEvaluation } from '../../../server/round/federated-evaluation.js';

const metrics = (loss: number, accuracy: number, numExamples: number) => ({ loss, accuracy, numExamples });

describe('FederatedEvaluationRound', () => {
  it('weights the reporting clients by their examples and lists who declined or went missing', () => {
    const ev = new FederatedEvaluationRound(4, ['a', 'b', 'c', 'd'], 1_000);
    expect(ev.receive('a', { round: 4, metrics: metrics(0.5, 0.9, 30), evalMs: 5 })).toEqual({ ok: true });
    expect(ev.receive('b', { round: 4, metrics: metrics(1.5, 0.5, 10), evalMs: 5 })).toEqual({ ok: true });
    expect(ev.receive('c', { round: 4, metrics: null, evalMs: 0 })).toEqual({ ok: true });
    expect(ev.settled()).toBe(false);
    ev.drop('d');
    expect(ev.settled()).toBe(true);
    expect(ev.declined).toEqual(['c']);
    const result = ev.result(1_250);
    expect(result).toEqual({
      selected: ['a', 'b', 'c', 'd'],
      reported: ['a', 'b'],
      declined: ['c'],
      missing: ['d'],
      loss: (0.5 * 30 + 1.5 * 10) / 40,
      accuracy: (0.9 * 30 + 0.5 * 10) / 40,
      numExamples: 40,
      durationMs: 250,
    });
  });

  it('refuses stale, unselected and repeated reports without changing anything', () => {
    const ev = new FederatedEvaluationRound(2, ['a', 'b'], 0);
    expect(ev.receive('a', { round: 1, metrics: metrics(1, 0.5, 3), evalMs: 1 })).toMatchObject({
      ok: false,
      code: 'stale-round',
    });
    expect(ev.receive('z', { round: 2, metrics: metrics(1, 0.5, 3), evalMs: 1 })).toMatchObject({
      ok: false,
      code: 'not-selected',
    });
    expect(ev.receive('a', { round: 2, metrics: metrics(1, 0.5, 3), evalMs: 1 })).toEqual({ ok: true });
    expect(ev.receive('a', { round: 2, metrics: metrics(9, 0.1, 3), evalMs: 1 })).toMatchObject({
      ok: false,
      code: 'duplicate-update',
    });
    const result = ev.result(10);
    expect(result.reported).toEqual(['a']);
    expect(result.accuracy).toBe(0.5);
    expect(result.missing).toEqual(['b']);
  });

  it("sums the reporting clients' confusion matrices into per-class metrics, only when every one sent one", () => {
    const ev = new FederatedEvaluationRound(3, ['a', 'b'], 0);
    ev.receive('a', {
      round: 3,
      metrics: {
        ...metrics(0.3, 0.8, 10),
        confusion: [
          [5, 1],
          [1, 3],
        ],
      },
      evalMs: 1,
    });
    ev.receive('b', {
      round: 3,
      metrics: {
        ...metrics(0.3, 0.5, 4),
        confusion: [
          [0, 2],
          [0, 2],
        ],
      },
      evalMs: 1,
    });
    const result = ev.result(1);
    expect(result.confusion).toEqual([
      [5, 3],
      [1, 5],
    ]);
    expect(result.perClass!.map((c) => c.recall)).toEqual([5 / 8, 5 / 6]);
    expect(result.perClass!.map((c) => c.precision)).toEqual([5 / 6, 5 / 8]);
    const partial = new FederatedEvaluationRound(3, ['a', 'b'], 0);
    partial.receive('a', {
      round: 3,
      metrics: {
        ...metrics(0.3, 0.8, 10),
        confusion: [
          [5, 1],
          [1, 3],
        ],
      },
      evalMs: 1,
    });
    partial.receive('b', { round: 3, metrics: metrics(0.3, 0.5, 4), evalMs: 1 });
    expect(partial.result(1).confusion).toBeUndefined();
    expect(partial.result(1).perClass).toBeUndefined();
  });

  it('has no aggregate when nobody reported', () => {
    const ev = new FederatedEvaluationRound(1, ['a'], 0);
    ev.receive('a', { round: 1, metrics: null, evalMs: 0 });
    const result = ev.result(0);
    expect(result.accuracy).toBeUndefined();
    expect(result.numExamples).toBe(0);
    expect(skippedEvaluation('1 connected client(s) hold held-out data, 2 needed').skipped).toMatch(/2 needed/);
  });

  it('names the round, the client and the fault in each refusal', () => {
    const ev = new FederatedEvaluationRound(2, ['a'], 0);
    expect(ev.receive('a', { round: 1, metrics: null, evalMs: 1 })).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'evaluation is for round 1, round 2 is being evaluated',
    });
    expect(ev.receive('z', { round: 2, metrics: null, evalMs: 1 })).toEqual({
      ok: false,
      code: 'not-selected',
      message: 'z was not selected to evaluate round 2',
    });
    ev.receive('a', { round: 2, metrics: null, evalMs: 1 });
    expect(ev.receive('a', { round: 2, metrics: null, evalMs: 1 })).toEqual({
      ok: false,
      code: 'duplicate-update',
      message: 'a already answered the evaluation of round 2',
    });
  });

  it('lists reporters, decliners and missing clients in id order, whatever order they came in', () => {
    const ev = new FederatedEvaluationRound(5, ['f', 'e', 'd', 'c', 'b', 'a'], 0);
    ev.receive('f', { round: 5, metrics: metrics(1, 0.5, 2), evalMs: 1 });
    ev.receive('e', { round: 5, metrics: metrics(1, 0.5, 2), evalMs: 1 });
    ev.receive('d', { round: 5, metrics: null, evalMs: 1 });
    ev.receive('c', { round: 5, metrics: null, evalMs: 1 });
    ev.drop('b');
    ev.drop('b');
    const result = ev.result(0);
    expect(result).toMatchObject({ reported: ['e', 'f'], declined: ['c', 'd'], missing: ['a', 'b'] });
    expect(ev.declined).toEqual(['d', 'c']);
    expect(ev.result(-5).durationMs).toBe(0);
  });

  it('leaves out the confusion sum when the reporters sent matrices of different sizes', () => {
    const ev = new FederatedEvaluationRound(3, ['a', 'b'], 0);
    ev.receive('a', { round: 3, metrics: { ...metrics(0.3, 0.8, 2), confusion: [[2]] }, evalMs: 1 });
    ev.receive('b', {
      round: 3,
      metrics: {
        ...metrics(0.3, 0.5, 4),
        confusion: [
          [2, 0],
          [1, 1],
        ],
      },
      evalMs: 1,
    });
    expect(ev.result(1).confusion).toBeUndefined();
    expect(ev.result(1).perClass).toBeUndefined();
  });

  it('records a skipped evaluation as empty, with its reason', () => {
    expect(skippedEvaluation('no one')).toEqual({
      selected: [],
      reported: [],
      declined: [],
      missing: [],
      numExamples: 0,
      skipped: 'no one',
      durationMs: 0,
    });
  });
});
