import { describe, expect, it } from 'vitest';
import { evaluateOnClients, evaluatorLeft, receiveReport } from '../../../server/round/evaluate-on-clients.js';
import { FederatedEvaluationRound, skippedEvaluation } from '../../../server/round/federated-evaluation.js';
import type { RoundRun } from '../../../server/round/round-run.js';

const report = (round: number) => ({ round, metrics: { loss: 0.4, accuracy: 0.8, numExamples: 5 }, evalMs: 2 });

/** A run waiting for `selected` to evaluate round 3; counts how often the wait was ended. */
function waiting(selected: string[]) {
  const run = {
    finished: 0,
    evaluation: {
      round: new FederatedEvaluationRound(3, selected, 0),
      finish: () => {
        run.finished++;
      },
    },
  };
  return run;
}

describe('evaluation reports and departures', () => {
  it('refuses a report when no evaluation is running', () => {
    expect(receiveReport(undefined, 'a', report(3))).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'no evaluation is running (report is for round 3)',
    });
    expect(receiveReport({ evaluation: undefined }, 'a', report(3))).toMatchObject({ ok: false, code: 'stale-round' });
  });

  it('ends the wait once every evaluator reported or left, not before', () => {
    const run = waiting(['a', 'b', 'c']);
    expect(receiveReport(run, 'a', report(3))).toEqual({ ok: true });
    evaluatorLeft(run, 'b');
    expect(run.finished).toBe(0);
    expect(receiveReport(run, 'z', report(3))).toMatchObject({ ok: false, code: 'not-selected' });
    expect(run.finished).toBe(0);
    expect(receiveReport(run, 'c', report(3))).toEqual({ ok: true });
    expect(run.finished).toBe(1);
  });
});

describe('secure federated evaluation', () => {
  it('is skipped, with the reason, when fewer than 3 evaluators are selected: nothing is sent', async () => {
    const sent: unknown[] = [];
    const run = { round: 3, scope: { active: true, send: (m: unknown) => sent.push(m) } } as unknown as RoundRun;
    const sampler = { name: 'all', minAvailable: 1, select: (ids: readonly string[]) => [...ids] };
    const evaluated = await evaluateOnClients(run, {
      version: 2,
      weights: new Float32Array(1),
      eligible: ['a', 'b'],
      options: { sampler, timeoutMs: 1000, secure: { identityOf: () => undefined, phaseTimeoutMs: 1000 } },
      quiet: false,
      numClasses: 10,
      log: () => undefined,
    });
    expect(evaluated).toEqual({
      result: skippedEvaluation('secure evaluation needs at least 3 evaluators, 2 selected'),
      declined: [],
    });
    expect(sent).toEqual([]);
  });
});
