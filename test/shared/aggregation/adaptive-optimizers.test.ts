import { describe, expect, it } from 'vitest';
import { FedAdagrad, FedAdam, FedYogi } from '../../../shared/aggregation/adaptive-optimizers.js';
import { seededRng } from '../../../shared/random.js';

const f32 = (...v: number[]) => Float32Array.from(v);
const w0 = f32(1, 2);
const d1 = f32(0.5, -0.25);
const d2 = f32(-0.1, 0.2);

function twoSteps(opt: FedAdam | FedYogi | FedAdagrad): [Float32Array, Float32Array] {
  const a = opt.step(w0, d1);
  return [a, opt.step(a, d2)];
}

function expectClose(actual: Float32Array, expected: number[]): void {
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 6));
}

describe('FedAdam', () => {
  it("has Flower's defaults", () => {
    expect(new FedAdam().options).toEqual({ eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
  });

  it('takes bias-corrected Adam steps on the pseudo-gradient', () => {
    // t=1: m = 0.1 d = [0.05, -0.025], v = 0.01 d^2 = [0.0025, 0.000625], sqrt v = [0.05, 0.025],
    // eta_1 = 0.1 sqrt(1 - 0.99) / (1 - 0.9) = 0.1; w = [1 + 0.1*0.05/0.051, 2 - 0.1*0.025/0.026]
    // t=2: m = [0.035, -0.0025], v = [0.002575, 0.001019], eta_2 = 0.1 sqrt(0.0199)/0.19 = 0.0742460
    const [a, b] = twoSteps(new FedAdam());
    expectClose(a, [1.098039216, 1.903846154]);
    expectClose(b, [1.148259266, 1.898207424]);
  });
});

describe('FedYogi', () => {
  it("has Flower's defaults", () => {
    expect(new FedYogi().options).toEqual({ eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
  });

  it('grows v additively by sign(v - d^2), without bias correction', () => {
    // t=1: v = 0 - 0.01 d^2 sign(0 - d^2) = 0.01 d^2 (as Adam); w = [1 + 0.01*0.05/0.051, 2 - 0.01*0.025/0.026]
    // t=2: v0 = 0.0025 - 0.01*0.01*sign(0.0025 - 0.01) = 0.0026 (Adam would give 0.002575)
    const [a, b] = twoSteps(new FedYogi());
    expectClose(a, [1.009803922, 1.990384615]);
    expectClose(b, [1.01653596, 1.989627398]);
  });
});

describe('FedAdagrad', () => {
  it("has Flower's defaults and no momentum", () => {
    expect(new FedAdagrad().options).toEqual({ eta: 0.1, tau: 1e-3, beta1: 0, beta2: 0 });
  });

  it('accumulates squared pseudo-gradients', () => {
    // t=1: v = d^2; w = [1 + 0.1*0.5/0.501, 2 - 0.1*0.25/0.251]
    // t=2: v = [0.26, 0.1025]; w0 = 1.0998004 - 0.1*0.1/(sqrt(0.26) + 0.001)
    const [a, b] = twoSteps(new FedAdagrad());
    expectClose(a, [1.099800399, 1.900398406]);
    expectClose(b, [1.080227172, 1.962673397]);
  });
});

describe('adaptive optimizer state', () => {
  const rng = seededRng(3);
  const deltas = Array.from({ length: 4 }, () => Float32Array.from({ length: 16 }, () => rng() - 0.5));

  for (const make of [() => new FedAdam(), () => new FedYogi(), () => new FedAdagrad()]) {
    it(`${make().name} resumes bit-exactly from state()`, () => {
      const a = make();
      let w: Float32Array = new Float32Array(16);
      w = a.step(w, deltas[0]);
      const b = make();
      b.restore(a.state());
      let wa = w;
      let wb = w;
      for (const d of deltas.slice(1)) {
        wa = a.step(wa, d);
        wb = b.step(wb, d);
      }
      expect(wb).toEqual(wa);
    });
  }

  it('has an empty state before its first step, and a state() the next steps do not change', () => {
    const a = new FedAdam();
    expect(a.state()).toEqual({});
    a.step(w0, d1);
    const saved = a.state();
    const copy = { m: (saved.m as Float32Array).slice(), v: (saved.v as Float32Array).slice(), steps: 1 };
    a.step(w0, d2);
    expect(saved).toEqual(copy);
  });

  it('leaves a weight alone where the pseudo-gradient is zero (Yogi: sign(v - d^2) = 0 at the start)', () => {
    for (const opt of [new FedAdam(), new FedYogi(), new FedAdagrad()]) {
      const w = opt.step(f32(1, 2), f32(0, 0.5));
      expect(w[0]).toBe(1);
      expect(w[1]).toBeGreaterThan(2);
    }
  });

  it('resets on an empty state and rejects state that does not fit', () => {
    const a = new FedAdam();
    const first = a.step(w0, d1);
    a.restore({});
    expect(a.step(w0, d1)).toEqual(first);
    expect(() => a.restore({ m: f32(1), v: f32(1, 2), steps: 1 })).toThrow(/'m' has 1 values, 'v' 2/);
    expect(() => a.restore({ m: f32(1), v: f32(1), steps: -1 })).toThrow(/'steps' must be a non-negative integer/);
    expect(() => a.restore({ m: f32(1), v: f32(1), steps: 1.5 })).toThrow(
      "fedadam state: 'steps' must be a non-negative integer",
    );
    expect(() => a.restore({ m: f32(1), v: f32(1), steps: f32(1) })).toThrow(
      "fedadam state: 'steps' must be a non-negative integer",
    );
    expect(() => a.restore({ m: 1, v: f32(1), steps: 1 })).toThrow("fedadam state: 'm' must be a Float32Array");
    const given = { m: f32(0, 0), v: f32(0, 0), steps: 0 };
    a.restore(given);
    expect(a.step(w0, d1)).toEqual(first);
    expect(given).toEqual({ m: f32(0, 0), v: f32(0, 0), steps: 0 });
    a.restore({ m: f32(1), v: f32(1), steps: 1 });
    expect(() => a.step(w0, d1)).toThrow(
      'fedadam first moment has 1 values but the weights have 2: state from another model?',
    );
    expect(() => new FedYogi().step(w0, f32(1))).toThrow('delta has 1 values, weights 2');
  });

  it('leaves its inputs untouched and rejects bad hyperparameters', () => {
    const w = f32(1, 2);
    const d = f32(0.5, -0.25);
    new FedAdam().step(w, d);
    expect(Array.from(w)).toEqual([1, 2]);
    expect(Array.from(d)).toEqual([0.5, -0.25]);
    expect(() => new FedAdam({ tau: 0 })).toThrow(/tau must be a positive number/);
    expect(() => new FedYogi({ beta2: 1 })).toThrow(/beta2 must be in \[0, 1\)/);
    expect(() => new FedAdagrad({ eta: 0 })).toThrow('fedadagrad eta must be a positive number, got 0');
    expect(() => new FedYogi({ tau: Infinity })).toThrow('fedyogi tau must be a positive number, got Infinity');
    expect(() => new FedAdam({ beta1: 1 })).toThrow('fedadam beta1 must be in [0, 1), got 1');
    expect(() => new FedAdam({ beta2: -0.5 })).toThrow('fedadam beta2 must be in [0, 1), got -0.5');
  });
});
