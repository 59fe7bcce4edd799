import { describe, expect, it } from 'vitest';
import { parsePrivacyConfig } from '../../shared/privacy/config.js';
import { GaussianSampler, seededRandomWords } from '../../shared/privacy/gaussian.js';
import { PrivacyRuntime } from '../../server/privacy-runtime.js';

const runtime = () =>
  new PrivacyRuntime(
    parsePrivacyConfig({ mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 100 }),
    {
      samplingRate: 0.5,
      individualUpdatesVisible: true,
      noise: new GaussianSampler(seededRandomWords(3)),
    },
  );

function runRound(rt: PrivacyRuntime, round: number, contributors: number) {
  const plan = rt.plan(round, 8);
  rt.finish(plan, { contributors, updateSum: new Float32Array(3), indicatorSum: null });
  return { round, samplingRate: plan.samplingRate, expectedContributors: plan.expectedContributors, contributors };
}

describe('PrivacyRuntime.replay', () => {
  it('ends where the live runtime ended: released and per-update coordinator epsilon alike', () => {
    const live = runtime();
    runRound(live, 1, 4);
    const saved = live.checkpoint();
    const lost = [runRound(live, 2, 3), runRound(live, 3, 0)];

    const resumed = runtime();
    resumed.restore(saved);
    expect(resumed.summary().epsilon).toBeLessThan(live.summary().epsilon);
    resumed.replay(lost, 1);
    expect(resumed.summary()).toEqual(live.summary());
    expect(resumed.status().rounds).toBe(3);
  });

  it('charges a round nobody contributed to only in the released account', () => {
    const rt = runtime();
    runRound(rt, 1, 4);
    const before = rt.summary();
    rt.replay([{ round: 2, samplingRate: 0.5, expectedContributors: 4, contributors: 0 }], 1);
    expect(rt.summary().epsilon).toBeGreaterThan(before.epsilon);
    expect(rt.summary().coordinatorEpsilon).toBe(before.coordinatorEpsilon);
  });
});
