import { describe, expect, it } from 'vitest';
import { privatizeUpdate, type ClientDpInstructions } from '../../../shared/privacy/client-privatize.js';
import { clipToL2Norm } from '../../../shared/privacy/clipping.js';
import { addGaussianNoise, GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';

/**
 * The client's half of a DP round, value for value: a twin sampler on the same seed replays the
 * exact noise the client must have drawn, in the order it must have drawn it.
 */

const twins = (seed: number) =>
  [new GaussianSampler(seededRandomWords(seed)), new GaussianSampler(seededRandomWords(seed))] as const;
/** [3, 4] clipped to norm 1: about [0.6, 0.8], a few float32 ulps inside the bound. */
const clipped34 = () => clipToL2Norm(Float32Array.from([3, 4]), 1).clipped;
const distributed: ClientDpInstructions = {
  mode: 'distributed',
  clipNorm: 1,
  noiseMultiplier: 1,
  updateNoiseStd: 0.5,
  indicatorNoiseStd: 0.25,
};

describe('privatizeUpdate', () => {
  it('distributed, clipped update: noise of the given std on the clipped values, then -1/2 plus indicator noise', () => {
    const [sampler, twin] = twins(5);
    const { update, clipIndicator } = privatizeUpdate(Float32Array.from([3, 4]), distributed, sampler);
    expect(update).toEqual(addGaussianNoise(clipped34(), 0.5, twin));
    expect(clipIndicator).toBe(-0.5 + 0.25 * twin.standardNormal());
    expect(sampler.standardNormal()).toBe(twin.standardNormal());
  });

  it('an update within the clip norm reports +1/2 plus its noise', () => {
    const [sampler, twin] = twins(6);
    const { clipIndicator } = privatizeUpdate(Float32Array.from([0.3, 0.4]), distributed, sampler);
    addGaussianNoise(new Float32Array(2), 0.5, twin);
    expect(clipIndicator).toBe(0.5 + 0.25 * twin.standardNormal());
  });

  it('adds and draws no update noise when its std is 0 (central mode); fixed clipping reports no indicator', () => {
    const [sampler, twin] = twins(7);
    const fixed = privatizeUpdate(
      Float32Array.from([3, 4]),
      { mode: 'central', clipNorm: 1, noiseMultiplier: 1, updateNoiseStd: 0, indicatorNoiseStd: null },
      sampler,
    );
    expect(fixed).toEqual({ update: clipped34(), clipIndicator: null });
    // Nothing was drawn: the sampler is where its twin is.
    expect(sampler.standardNormal()).toBe(twin.standardNormal());
    const adaptive = privatizeUpdate(
      Float32Array.from([0.3, 0.4]),
      { mode: 'central', clipNorm: 1, noiseMultiplier: 1, updateNoiseStd: 0, indicatorNoiseStd: 0 },
      sampler,
    );
    expect(adaptive).toEqual({ update: Float32Array.from([0.3, 0.4]), clipIndicator: 0.5 });
  });

  it('refuses instructions of an unknown mode or with unknown fields', () => {
    const [sampler] = twins(9);
    expect(() => privatizeUpdate(new Float32Array(2), { ...distributed, mode: 'local' } as never, sampler)).toThrow(
      /mode/,
    );
    expect(() => privatizeUpdate(new Float32Array(2), { ...distributed, extra: 1 } as never, sampler)).toThrow(/extra/);
  });

  it('central mode refuses any client noise, on the update or on the indicator', () => {
    const [sampler] = twins(8);
    const message = 'central mode: clients add no noise, the coordinator does; noise stds must be 0';
    expect(() =>
      privatizeUpdate(
        new Float32Array(2),
        { mode: 'central', clipNorm: 1, noiseMultiplier: 1, updateNoiseStd: 0.1, indicatorNoiseStd: null },
        sampler,
      ),
    ).toThrow(new Error(message));
    expect(() =>
      privatizeUpdate(
        new Float32Array(2),
        { mode: 'central', clipNorm: 1, noiseMultiplier: 1, updateNoiseStd: 0, indicatorNoiseStd: 0.1 },
        sampler,
      ),
    ).toThrow(new Error(message));
  });
});
