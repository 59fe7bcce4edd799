import { describe, expect, it } from 'vitest';
import { CoordinateMedian } from '../../../shared/aggregation/median.js';
import { Krum } from '../../../shared/aggregation/krum.js';
import type { ClientUpdate } from '../../../shared/aggregation/types.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import {
  byzantineAttackSchema,
  chooseByzantineClients,
  createAttack,
  scaleDelta,
  signFlip,
} from '../../../shared/attacks/byzantine.js';
import { seededRng } from '../../../shared/random.js';

const f32 = (...v: number[]) => Float32Array.from(v);

describe('Byzantine transforms', () => {
  it('flip the sign, optionally scaled', () => {
    expect(Array.from(signFlip(f32(1, -2, 0.5)))).toEqual([-1, 2, -0.5]);
    expect(Array.from(signFlip(f32(1, -2, 0.5), 4))).toEqual([-4, 8, -2]);
  });

  it('scale the delta', () => {
    expect(Array.from(scaleDelta(f32(1, -2), 10))).toEqual([10, -20]);
  });

  it('add seeded Gaussian noise of the configured std, different each round', () => {
    const attack = createAttack(byzantineAttackSchema.parse({ kind: 'gaussian-noise', std: 2 }), 11);
    const delta = new Float32Array(10_000).fill(1);
    const out = attack.apply(delta, 3);
    expect(attack.apply(delta, 3)).toEqual(out);
    expect(attack.apply(delta, 4)).not.toEqual(out);
    expect(delta[0]).toBe(1);
    let s = 0;
    let s2 = 0;
    for (const v of out) {
      s += v - 1;
      s2 += (v - 1) ** 2;
    }
    expect(Math.abs(s / out.length)).toBeLessThan(0.1);
    expect(Math.sqrt(s2 / out.length)).toBeCloseTo(2, 1);
  });

  it('are configured through a schema with defaults', () => {
    expect(byzantineAttackSchema.parse({ kind: 'sign-flip' })).toEqual({ kind: 'sign-flip', scale: 1 });
    expect(() => byzantineAttackSchema.parse({ kind: 'gaussian-noise' })).toThrow();
    expect(createAttack({ kind: 'scaling', factor: 3 }, 0).apply(f32(1), 0)[0]).toBe(3);
  });
});

describe('chooseByzantineClients', () => {
  it('picks round(fraction * n) distinct clients, repeatably', () => {
    const chosen = chooseByzantineClients(10, 0.2, 5);
    expect(chosen).toHaveLength(2);
    expect(new Set(chosen).size).toBe(2);
    expect(chosen).toEqual([...chosen].sort((a, b) => a - b));
    expect(chooseByzantineClients(10, 0.2, 5)).toEqual(chosen);
    expect(chooseByzantineClients(10, 0, 5)).toEqual([]);
    expect(() => chooseByzantineClients(10, 1.5, 5)).toThrow(/\[0, 1\]/);
  });
});

describe('robust aggregators against 20% sign-flip attackers', () => {
  it('keep the direction of the honest update, which the mean loses', () => {
    // 8 honest clients agree on roughly +1 per coordinate; 2 attackers send -4x their delta.
    const rng = seededRng(9);
    const attackers = chooseByzantineClients(10, 0.2, 1);
    const flip = createAttack({ kind: 'sign-flip', scale: 4 }, 0);
    const round: ClientUpdate[] = Array.from({ length: 10 }, (_, i) => {
      const honest = Float32Array.from({ length: 32 }, () => 1 + 0.2 * (rng() - 0.5));
      return { clientId: `c${i}`, delta: attackers.includes(i) ? flip.apply(honest, 0) : honest, numExamples: 100 };
    });
    const mean = new WeightedMean().aggregate(round);
    expect(mean.every((v) => v < 0.3)).toBe(true);
    for (const robust of [new CoordinateMedian(), new Krum({ byzantine: 2 })]) {
      expect(robust.aggregate(round).every((v) => v > 0.85 && v < 1.15)).toBe(true);
    }
  });
});
