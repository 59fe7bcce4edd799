import { describe, expect, it } from 'vitest';
import { dropPlan } from '../../../bench/live/drop-plan.js';

const names = Array.from({ length: 200 }, (_, i) => `c${i}`);

describe('dropPlan', () => {
  it('drops round(rate * n) distinct clients, the same ones for the same seed and round', () => {
    const plan = dropPlan(names, 0.1, 7, 4, 1);
    expect(plan.round).toBe(7);
    expect(Object.keys(plan.drops)).toHaveLength(20);
    expect(Object.keys(plan.drops).every((name) => names.includes(name))).toBe(true);
    expect(dropPlan(names, 0.1, 7, 4, 1)).toEqual(plan);
    expect(Object.keys(dropPlan(names, 0.1, 8, 4, 1).drops)).not.toEqual(Object.keys(plan.drops));
    expect(Object.keys(dropPlan(names, 0.1, 7, 4, 2).drops)).not.toEqual(Object.keys(plan.drops));
  });

  it('spreads secure dropouts evenly over the stages, rotating with the round so one dropout still visits every stage', () => {
    const counts = [0, 0, 0, 0];
    for (const stage of Object.values(dropPlan(names, 0.1, 3, 4, 1).drops)) counts[stage]++;
    expect(counts).toEqual([5, 5, 5, 5]);
    const ten = names.slice(0, 10);
    expect([1, 2, 3, 4].map((round) => Object.values(dropPlan(ten, 0.1, round, 4, 1).drops)[0]).sort()).toEqual([
      0, 1, 2, 3,
    ]);
  });

  it('plaintext rounds (no stages) and a zero rate', () => {
    expect(new Set(Object.values(dropPlan(names, 0.1, 1, 0, 1).drops))).toEqual(new Set([0]));
    expect(dropPlan(names, 0, 1, 4, 1).drops).toEqual({});
  });

  it('refuses a rate outside [0, 1)', () => {
    expect(() => dropPlan(names, 1, 1, 4, 1)).toThrow('dropout rate must be in [0, 1), got 1');
    expect(() => dropPlan(names, -0.1, 1, 4, 1)).toThrow('dropout rate must be in [0, 1), got -0.1');
  });
});
