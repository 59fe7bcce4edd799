import { describe, expect, it } from 'vitest';
import { ServerSgd } from '../../../shared/aggregation/server-sgd.js';

const f32 = (...v: number[]) => Float32Array.from(v);

describe('ServerSgd', () => {
  it('is FedAvg with learning rate 1 and no momentum: w + delta', () => {
    const opt = new ServerSgd();
    expect(opt.name).toBe('fedavg');
    expect(Array.from(opt.step(f32(1, 2), f32(0.5, -1)))).toEqual([1.5, 1]);
  });

  it('scales the delta by the server learning rate', () => {
    expect(Array.from(new ServerSgd(0.5).step(f32(1, 2), f32(0.5, -1)))).toEqual([1.25, 1.5]);
  });

  it('is FedAvgM with momentum: v = mu v + delta, w += lr v', () => {
    const opt = new ServerSgd(1, 0.9);
    expect(opt.name).toBe('fedavgm');
    const w1 = opt.step(f32(0), f32(1)); // v = 1
    const w2 = opt.step(w1, f32(1)); // v = 0.9 + 1 = 1.9
    expect(w1[0]).toBe(1);
    expect(w2[0]).toBeCloseTo(2.9, 6);
  });

  it('keeps no velocity without momentum, and a state() and restored state the next steps do not change', () => {
    const plain = new ServerSgd(1, 0);
    plain.step(f32(1), f32(1));
    expect(plain.state()).toEqual({});
    const a = new ServerSgd(1, 0.9);
    a.step(f32(0, 0), f32(1, -2));
    const saved = a.state();
    a.step(f32(0, 0), f32(1, 1));
    expect(saved).toEqual({ velocity: f32(1, -2) });
    const given = { velocity: f32(1, -2) };
    const b = new ServerSgd(1, 0.9);
    b.restore(given);
    b.step(f32(0, 0), f32(1, 1));
    expect(given).toEqual({ velocity: f32(1, -2) });
  });

  it('resumes exactly from state()', () => {
    const a = new ServerSgd(1, 0.9);
    const w = a.step(f32(0, 0), f32(1, -2));
    const b = new ServerSgd(1, 0.9);
    b.restore(a.state());
    expect(b.step(w, f32(0.5, 0.5))).toEqual(a.step(w, f32(0.5, 0.5)));
  });

  it('rejects bad hyperparameters and state from another model', () => {
    expect(() => new ServerSgd(0)).toThrow(/learning rate/);
    expect(() => new ServerSgd(1, 1)).toThrow(/momentum must be in \[0, 1\)/);
    const opt = new ServerSgd(1, 0.9);
    expect(() => opt.restore({ velocity: 3 })).toThrow(/'velocity' must be a Float32Array/);
    opt.restore({ velocity: f32(1, 2, 3) });
    expect(() => opt.step(f32(0, 0), f32(1, 1))).toThrow(
      'momentum velocity has 3 values but the weights have 2: state from another model?',
    );
    expect(() => opt.step(f32(0, 0), f32(1))).toThrow(/delta has 1 values/);
  });
});
