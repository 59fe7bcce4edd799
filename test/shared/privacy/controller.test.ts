import { describe, expect, it } from 'vitest';
import { privatizeUpdate } from '../../../shared/privacy/client-privatize.js';
import { parsePrivacyConfig } from '../../../shared/privacy/config.js';
import { PrivacyController, type RoundPlan } from '../../../shared/privacy/controller.js';
import { GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';
import { DEFAULT_RDP_ORDERS, computeEpsilon, rdpToEpsilon, stepsUntilBudget } from '../../../shared/privacy/rdp.js';

const DIM = 40_000;

function instructionsOf(plan: RoundPlan) {
  if (!plan.allowed) throw new Error(plan.reason);
  return plan.instructions;
}

function sampleStd(values: Float32Array): number {
  let sq = 0;
  for (const v of values) sq += v * v;
  return Math.sqrt(sq / values.length);
}

/** Runs one round where every client's update is zero, so the sum is pure noise. */
function noiseOnlyRound(controller: PrivacyController, n: number, survivors: number, seed: number) {
  const gauss = new GaussianSampler(seededRandomWords(seed));
  const setup = { round: 0, samplingRate: 0.1, expectedContributors: n };
  const instructions = instructionsOf(controller.beginRound(setup));
  const sum = new Float32Array(DIM);
  for (let c = 0; c < survivors; c++) {
    const { update } = privatizeUpdate(new Float32Array(DIM), instructions, gauss);
    for (let i = 0; i < DIM; i++) sum[i] += update[i];
  }
  const finished = controller.finishRound(
    { ...setup, contributors: survivors, updateSum: sum, indicatorSum: null },
    gauss,
  );
  return { instructions, finished, noisySum: finished.meanUpdate.map((v) => v * n) };
}

const within4se = (std: number, expected: number) =>
  expect(Math.abs(std - expected)).toBeLessThan((4 * expected) / Math.sqrt(2 * DIM));

describe('PrivacyController', () => {
  it('central: clients only clip, the coordinator adds N(0, (zC)^2) to the sum', () => {
    const controller = new PrivacyController(
      parsePrivacyConfig({ mode: 'central', noiseMultiplier: 1.3, clipNorm: 0.5, delta: 1e-5, targetEpsilon: 10 }),
    );
    const { instructions, finished, noisySum } = noiseOnlyRound(controller, 10, 7, 11);
    expect(instructions).toEqual({
      mode: 'central',
      clipNorm: 0.5,
      noiseMultiplier: 1.3,
      updateNoiseStd: 0,
      indicatorNoiseStd: null,
    });
    within4se(sampleStd(noisySum), 1.3 * 0.5);
    expect(finished.privacy).toMatchObject({
      releasedNoiseMultiplier: 1.3,
      clientNoiseMultiplier: null,
      contributors: 7,
    });
  });

  it('distributed: client shares plus the dropout top-up give the full noise; the shortfall is reported', () => {
    const controller = new PrivacyController(
      parsePrivacyConfig({ mode: 'distributed', noiseMultiplier: 2, clipNorm: 0.25, delta: 1e-5, targetEpsilon: 10 }),
    );
    const { instructions, finished, noisySum } = noiseOnlyRound(controller, 16, 9, 12);
    expect(instructions.updateNoiseStd).toBeCloseTo((2 * 0.25) / 4, 15);
    within4se(sampleStd(noisySum), 2 * 0.25);
    expect(finished.privacy.releasedNoiseMultiplier).toBeCloseTo(2, 14);
    expect(finished.privacy.clientNoiseMultiplier).toBeCloseTo(2 * Math.sqrt(9 / 16), 14);
    expect(finished.privacy.coordinatorEpsilon as number).toBeGreaterThan(finished.privacy.epsilon);
  });

  it('clips each update and divides the sum by the expected number of contributors', () => {
    const controller = new PrivacyController(
      parsePrivacyConfig({ mode: 'central', noiseMultiplier: 1e-4, clipNorm: 1, delta: 1e-5, targetEpsilon: 1e12 }),
    );
    const gauss = new GaussianSampler(seededRandomWords(3));
    const setup = { round: 0, samplingRate: 0.5, expectedContributors: 4 };
    const instructions = instructionsOf(controller.beginRound(setup));
    const a = privatizeUpdate(Float32Array.from([30, 40]), instructions, gauss).update;
    const b = privatizeUpdate(Float32Array.from([0.3, 0.4]), instructions, gauss).update;
    const sum = Float32Array.from([a[0] + b[0], a[1] + b[1]]);
    const { meanUpdate } = controller.finishRound(
      { ...setup, contributors: 2, updateSum: sum, indicatorSum: null },
      gauss,
    );
    expect(meanUpdate[0]).toBeCloseTo((0.6 + 0.3) / 4, 4);
    expect(meanUpdate[1]).toBeCloseTo((0.8 + 0.4) / 4, 4);
  });

  it('adaptive: clients report noisy indicators and C grows when every update is clipped', () => {
    const config = parsePrivacyConfig({
      mode: 'distributed',
      noiseMultiplier: 1,
      adaptive: { initialClipNorm: 0.1, bitNoiseStd: 2.5 },
      delta: 1e-5,
      targetEpsilon: 50,
    });
    const controller = new PrivacyController(config);
    const gauss = new GaussianSampler(seededRandomWords(5));
    const n = 50;
    const setup = { round: 0, samplingRate: 0.05, expectedContributors: n };
    const instructions = instructionsOf(controller.beginRound(setup));
    // z' for the updates: (1 - (2 * 2.5)^-2)^(-1/2); the indicator noise is split across clients.
    expect(instructions.updateNoiseStd).toBeCloseTo((0.1 * (1 - 1 / 25) ** -0.5) / Math.sqrt(n), 14);
    expect(instructions.indicatorNoiseStd).toBeCloseTo(2.5 / Math.sqrt(n), 14);
    let updateSum = new Float32Array(4);
    let indicatorSum = 0;
    for (let c = 0; c < n; c++) {
      const p = privatizeUpdate(Float32Array.from([1, 1, 1, 1]), instructions, gauss);
      updateSum = updateSum.map((v, i) => v + p.update[i]);
      indicatorSum += p.clipIndicator as number;
    }
    const { nextClipNorm } = controller.finishRound({ ...setup, contributors: n, updateSum, indicatorSum }, gauss);
    // bBar ~ 0 < gamma = 0.5, so C grows by about exp(0.2 * 0.5).
    expect(nextClipNorm).toBeGreaterThan(0.1 * Math.exp(0.05));
    expect(() => controller.finishRound({ ...setup, contributors: n, updateSum, indicatorSum: null }, gauss)).toThrow(
      /adaptive clipping needs the indicator sum/,
    );
  });

  it('refuses the round that would exceed the budget and resumes from a JSON checkpoint', () => {
    const config = parsePrivacyConfig({
      mode: 'central',
      adaptive: { initialClipNorm: 1, bitNoiseStd: 5 },
      noiseMultiplier: 1.5,
      delta: 1e-5,
      targetEpsilon: 2,
    });
    let controller = new PrivacyController(config);
    const gauss = new GaussianSampler(seededRandomWords(9));
    let round = 0;
    for (;;) {
      const setup = { round, samplingRate: 0.1, expectedContributors: 20 };
      const plan = controller.beginRound(setup);
      if (!plan.allowed) {
        expect(plan.reason).toMatch(/privacy budget exhausted/);
        break;
      }
      controller.finishRound({ ...setup, contributors: 20, updateSum: new Float32Array(3), indicatorSum: 10 }, gauss);
      round++;
      if (round === 2) controller = new PrivacyController(config, JSON.parse(JSON.stringify(controller.checkpoint())));
    }
    expect(round).toBeGreaterThan(2);
    const spent = controller.spent();
    expect(spent.rounds).toBe(round);
    expect(spent.epsilon).toBeLessThanOrEqual(2);
    expect(spent.epsilon).toBeCloseTo(
      computeEpsilon({ q: 0.1, noiseMultiplier: 1.5, steps: round, delta: 1e-5 }).epsilon,
      12,
    );
    expect(computeEpsilon({ q: 0.1, noiseMultiplier: 1.5, steps: round + 1, delta: 1e-5 }).epsilon).toBeGreaterThan(2);
    // Every indicator said "fits" (bBar = 1 plus noise of std 5/20), so log C fell by about
    // 0.2 * 0.5 a round, and the checkpoint carried C across the restart.
    expect(Math.abs(Math.log(controller.clipNorm) + 0.1 * round)).toBeLessThan(4 * 0.2 * 0.25 * Math.sqrt(round));
  });

  it('lists every round it charged and counts the rounds left at a given sampling rate', () => {
    const config = parsePrivacyConfig({
      mode: 'central',
      clipNorm: 1,
      noiseMultiplier: 1.2,
      delta: 1e-5,
      targetEpsilon: 3,
    });
    const controller = new PrivacyController(config);
    const gauss = new GaussianSampler(seededRandomWords(4));
    const before = controller.roundsRemaining(0.2);
    expect(before).toBe(
      stepsUntilBudget({ q: 0.2, noiseMultiplier: 1.2, delta: 1e-5, targetEpsilon: 3, orders: config.orders }),
    );
    expect(before).toBeGreaterThan(2);
    for (const round of [1, 2]) {
      controller.finishRound(
        {
          round,
          samplingRate: 0.2,
          expectedContributors: 5,
          contributors: 5,
          updateSum: new Float32Array(2),
          indicatorSum: null,
        },
        gauss,
      );
    }
    expect(controller.rounds().map((r) => [r.round, r.samplingRate, r.contributors])).toEqual([
      [1, 0.2, 5],
      [2, 0.2, 5],
    ]);
    expect(controller.roundsRemaining(0.2)).toBe(before - 2);
    // A higher rate costs more per round: fewer rounds left.
    expect(controller.roundsRemaining(0.4)).toBeLessThan(before - 2);
  });

  it('clients refuse inconsistent instructions', () => {
    const gauss = new GaussianSampler(seededRandomWords(1));
    const bad = {
      mode: 'central' as const,
      clipNorm: 1,
      noiseMultiplier: 1,
      updateNoiseStd: 0.3,
      indicatorNoiseStd: null,
    };
    expect(() => privatizeUpdate(new Float32Array(2), bad, gauss)).toThrow(/central mode: clients add no noise/);
    expect(() => privatizeUpdate(new Float32Array(2), { ...bad, clipNorm: -1 }, gauss)).toThrow(/clipNorm/);
  });
});

describe('PrivacyController: rounds charged at their draw', () => {
  const config = parsePrivacyConfig({
    mode: 'distributed',
    clipNorm: 1,
    noiseMultiplier: 2,
    delta: 1e-5,
    targetEpsilon: 10,
  });
  const setup = { samplingRate: 0.1, expectedContributors: 100 };
  const relClose = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 * Math.abs(b));
  const epsilonOf = (rdp: (a: number) => number) =>
    rdpToEpsilon(DEFAULT_RDP_ORDERS.map(rdp), DEFAULT_RDP_ORDERS, 1e-5).epsilon;

  it('charges a draw once; its turnout, from finishRound or recordContributors, only adds the coordinator account', () => {
    const controller = new PrivacyController(config);
    const gauss = new GaussianSampler(seededRandomWords(5));
    const drawCost = computeEpsilon({ q: 0.1, noiseMultiplier: 2, steps: 1, delta: 1e-5 }).epsilon;
    const draw = controller.chargeDraw({ round: 0, ...setup });
    expect(draw).toMatchObject({ round: 0, contributors: 0, coordinatorEpsilon: 0 });
    relClose(draw.epsilon, drawCost);
    expect(() => controller.chargeDraw({ round: 0, ...setup })).toThrow(new Error('round 0 was already charged'));

    // 25 of 100 expected: client noise 2 sqrt(1/4) = 1, against the coordinator a / (2 * 1^2).
    const finished = controller.finishRound(
      { round: 0, ...setup, contributors: 25, updateSum: new Float32Array(2), indicatorSum: null },
      gauss,
    );
    expect(finished.privacy.contributors).toBe(25);
    relClose(finished.privacy.epsilon, drawCost);
    relClose(
      finished.privacy.coordinatorEpsilon as number,
      epsilonOf((a) => a / 2),
    );
    expect(controller.rounds()).toEqual([finished.privacy]);

    controller.chargeDraw({ round: 1, ...setup });
    const recorded = controller.recordContributors(1, 100);
    expect(recorded).toMatchObject({ round: 1, contributors: 100, clientNoiseMultiplier: 2 });
    relClose(
      recorded.coordinatorEpsilon as number,
      epsilonOf((a) => a / 2 + a / 8),
    );
    expect(() => controller.recordContributors(1, 50)).toThrow(/round 1 already recorded 100 contributor\(s\), not 50/);
    expect(() => controller.recordContributors(2, 5)).toThrow(/round 2 was not charged/);

    const spent = controller.spent();
    expect(spent.rounds).toBe(2);
    relClose(spent.epsilon, computeEpsilon({ q: 0.1, noiseMultiplier: 2, steps: 2, delta: 1e-5 }).epsilon);
    relClose(
      spent.coordinatorEpsilon as number,
      epsilonOf((a) => a / 2 + a / 8),
    );
    // Knowing who was drawn: both rounds at q = 1 with the released multiplier 2.
    const knowing = controller.epsilonKnowingParticipation();
    relClose(
      knowing.everyRound,
      epsilonOf((a) => (2 * a) / 8),
    );
    relClose(
      knowing.typicalClient,
      epsilonOf((a) => (0.2 * a) / 8),
    );
  });
});

describe('PrivacyController inputs and state', () => {
  it('central mode refuses an expected contributor count that is not a positive integer', () => {
    const controller = new PrivacyController(
      parsePrivacyConfig({ mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 }),
    );
    for (const v of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => controller.beginRound({ round: 1, samplingRate: 0.5, expectedContributors: v })).toThrow(
        new Error(`expected contributors must be an integer >= 1, got ${v}`),
      );
    }
    expect(controller.beginRound({ round: 1, samplingRate: 0.5, expectedContributors: 1 }).allowed).toBe(true);
  });

  it('adaptive: C moves by the indicator sum plus the top-up noise for dropouts, and resumes from the checkpoint', () => {
    const config = parsePrivacyConfig({
      mode: 'distributed',
      noiseMultiplier: 1,
      adaptive: { initialClipNorm: 0.1, bitNoiseStd: 2.5 },
      delta: 1e-5,
      targetEpsilon: 50,
    });
    const controller = new PrivacyController(config);
    expect(controller.clipNorm).toBe(0.1);
    // Every standard normal draw is 2, so the noise is exactly twice its std.
    const twos = { standardNormal: () => 2 } as unknown as GaussianSampler;
    const n = 4;
    const { nextClipNorm } = controller.finishRound(
      {
        round: 0,
        samplingRate: 0.05,
        expectedContributors: n,
        contributors: 1,
        updateSum: new Float32Array(2),
        indicatorSum: -0.5,
      },
      twos,
    );
    // 3 of 4 missing: the coordinator adds sigma_b sqrt(3/4) to the indicator sum.
    const unclipped = (-0.5 + 2 * 2.5 * Math.sqrt(3 / 4)) / n + 0.5;
    expect(nextClipNorm).toBeCloseTo(0.1 * Math.exp(-0.2 * (unclipped - 0.5)), 15);
    expect(controller.clipNorm).toBe(nextClipNorm);
    const resumed = new PrivacyController(config, JSON.parse(JSON.stringify(controller.checkpoint())));
    expect(resumed.clipNorm).toBe(nextClipNorm);
    expect(resumed.rounds()).toEqual(controller.rounds());
  });
});
