import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RDP_ORDERS,
  computeEpsilon,
  computeRdp,
  rdpToEpsilon,
  sampledGaussianRdp,
  stepsUntilBudget,
} from '../../../shared/privacy/rdp.js';
import reference from './rdp-reference.json' with { type: 'json' };

/**
 * Reference values: test/shared/privacy/make_rdp_reference.py integrates the Renyi moment of the
 * sampled Gaussian mixture numerically with mpmath at 40 digits (no series, no erfc).
 *
 * Error model of the float64 series (the same as Opacus'): log(A) carries an absolute error of
 * about e^-30 ~ 9e-14, where the slowly decaying fractional-order series is truncated, plus
 * rounding relative to |log A|. Tiny RDP values therefore agree to fewer relative digits
 * (7e-8 at worst on this grid), far below anything that moves epsilon.
 */
const LOG_A_ABS = 2e-13;
const LOG_A_REL = 1e-14;

describe('RDP of the sampled Gaussian mechanism', () => {
  it('matches the q = 1 closed form a * T / (2 sigma^2) at every default order', () => {
    for (const sigma of [0.3, 1, 1.1, 4.5]) {
      const rdp = computeRdp(1, sigma, 37);
      DEFAULT_RDP_ORDERS.forEach((a, k) => {
        const exact = (a * 37) / (2 * sigma * sigma);
        expect(Math.abs(rdp[k] - exact)).toBeLessThanOrEqual(2 * Number.EPSILON * exact);
      });
    }
  });

  it('never gives budget back: no negative RDP however small q, at every default order', () => {
    for (const q of [1e-300, 1e-170, 1e-100, 1e-20, 1e-12, 1e-8, 1e-5]) {
      for (const sigma of [0.3, 0.5, 1, 10, 100]) {
        for (const order of DEFAULT_RDP_ORDERS) {
          expect(sampledGaussianRdp(q, sigma, order), `q=${q} sigma=${sigma} order=${order}`).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });

  it('bounds fractional orders below the series resolution by the next integer order, and stays monotone', () => {
    // q = 1e-9, sigma = 100: the true cost (~1e-22) is far below the fractional series' rounding (~1e-16).
    for (const order of [1.1, 1.5, 2.5, 10.9]) {
      expect(sampledGaussianRdp(1e-9, 100, order)).toBe(sampledGaussianRdp(1e-9, 100, Math.ceil(order)));
    }
    expect(sampledGaussianRdp(1e-9, 100, 2)).toBeGreaterThan(0);
    for (const [q, sigma] of [
      [1e-9, 100],
      [1e-12, 0.3],
      [0.01, 1],
    ]) {
      const rdp = DEFAULT_RDP_ORDERS.map((a) => sampledGaussianRdp(q, sigma, a));
      rdp
        .slice(1)
        .forEach((r, k) =>
          expect(r, `q=${q} sigma=${sigma} order ${DEFAULT_RDP_ORDERS[k + 1]}`).toBeGreaterThanOrEqual(rdp[k]),
        );
    }
  });

  it('keeps the leading term where q is far below rounding of 1 (integer orders)', () => {
    // A - 1 = C(a, 2) q^2 (e^(1/sigma^2) - 1) + O(q^3), so RDP = a q^2 (e^(1/sigma^2) - 1) / 2 to ~q.
    for (const [q, sigma] of [
      [1e-100, 1],
      [1e-30, 1],
      [1e-12, 2],
    ]) {
      for (const order of [2, 8, 32, 63]) {
        const leading = (order * q * q * Math.expm1(1 / (sigma * sigma))) / 2;
        const got = sampledGaussianRdp(q, sigma, order);
        expect(Math.abs(got - leading), `q=${q} sigma=${sigma} order=${order}`).toBeLessThanOrEqual(1e-9 * leading);
      }
    }
  });

  it('costs nothing at q = 0 or for zero steps, and everything without noise', () => {
    expect(computeRdp(0, 1, 100)).toEqual(DEFAULT_RDP_ORDERS.map(() => 0));
    expect(computeRdp(0.1, 0, 0, [2])).toEqual([0]);
    expect(sampledGaussianRdp(0.1, 0, 2.5)).toBe(Infinity);
  });

  it(`agrees with mpmath numerical integration on a ${reference.rdpGrid.length}-point grid of q, sigma and integer and fractional orders`, () => {
    for (const { q, sigma, order, rdp: expected } of reference.rdpGrid) {
      const got = sampledGaussianRdp(q, sigma, order);
      const logAError = Math.abs(got - expected) * (order - 1);
      const context = `q=${q} sigma=${sigma} order=${order}: ${got} vs ${expected}`;
      expect(logAError, context).toBeLessThanOrEqual(LOG_A_ABS + LOG_A_REL * expected * (order - 1));
      expect(Math.abs(got - expected), context).toBeLessThanOrEqual(1e-6 * expected);
    }
  });

  it('gives the reference epsilon (and optimal order) over the default orders to 1e-9 relative', () => {
    for (const c of reference.epsilonCases) {
      const perStep = computeRdp(c.q, c.noiseMultiplier, 1);
      perStep.forEach((r, k) => expect(Math.abs(r - c.rdpPerStep[k])).toBeLessThanOrEqual(1e-6 * c.rdpPerStep[k]));
      const got = computeEpsilon({ q: c.q, noiseMultiplier: c.noiseMultiplier, steps: c.steps, delta: c.delta });
      expect(Math.abs(got.epsilon - c.epsilon)).toBeLessThanOrEqual(1e-9 * c.epsilon);
      expect(got.order).toBe(c.order);
      expect(got.orderAtEdge).toBeNull();
    }
  });

  it("reproduces Opacus' and TF Privacy's published test values", () => {
    // opacus/tests/accountants_test.py: RDPAccountant, 2250 steps, assertAlmostEqual(eps, 7.32911117143) (7 places).
    const opacus = computeEpsilon({ q: 0.04, noiseMultiplier: 1.5, steps: 2250, delta: 1e-5 });
    expect(Math.abs(opacus.epsilon - 7.32911117143)).toBeLessThan(5e-8);
    // dp_accounting rdp_privacy_accountant_test.py, integer orders (rtol 1e-4 there). Its
    // fractional-order values are now conservative upper bounds, not the exact series.
    const tf = computeRdp(0.01, 2.5, 50, [5, 50, 100]);
    [2.18075656e-3, 2.38460375e-2, 1.67416308e2].forEach((v, k) => expect(Math.abs(tf[k] - v)).toBeLessThan(1e-8 * v));
    // Their pure-DP conversion check: constant RDP 1.1 over orders 2..32 at delta 1e-5.
    const orders = Array.from({ length: 31 }, (_, k) => k + 2);
    const pure = rdpToEpsilon(
      orders.map(() => 1.1),
      orders,
      1e-5,
    );
    expect(pure.epsilon).toBeCloseTo(1.32783806176, 10);
    expect(pure).toMatchObject({ order: 32, orderAtEdge: 'largest' });
  });

  it('uses the improved conversion, tighter than the classic rdp - log(delta) / (a - 1)', () => {
    const orders = [2, 8, 32];
    const rdp = [0.1, 0.5, 2];
    const classic = Math.min(...rdp.map((r, k) => r - Math.log(1e-6) / (orders[k] - 1)));
    const improved = rdpToEpsilon(rdp, orders, 1e-6);
    expect(improved.epsilon).toBeLessThan(classic);
    expect(improved.epsilon).toBeCloseTo(0.5 + Math.log(7 / 8) - (Math.log(1e-6) + Math.log(8)) / 7, 12);
    expect(improved).toMatchObject({ order: 8, orderAtEdge: null });
  });

  it('flags an optimum at the smallest order', () => {
    const r = computeEpsilon({ q: 0.5, noiseMultiplier: 0.3, steps: 100, delta: 1e-5 });
    expect(r).toMatchObject({ order: 1.1, orderAtEdge: 'smallest' });
  });

  it('uses bit-identical Opacus default orders', () => {
    expect(DEFAULT_RDP_ORDERS).toHaveLength(151);
    expect(DEFAULT_RDP_ORDERS.slice(0, 3)).toEqual([1.1, 1.2, 1 + 3 / 10]);
    expect(DEFAULT_RDP_ORDERS[98]).toBe(10.9);
    expect(DEFAULT_RDP_ORDERS.slice(99, 101)).toEqual([12, 13]);
    expect(DEFAULT_RDP_ORDERS[150]).toBe(63);
  });

  it('rejects invalid arguments with a message naming them', () => {
    expect(() => computeRdp(1.5, 1, 1)).toThrow(/sampling rate q must be in \[0, 1\], got 1.5/);
    expect(() => computeRdp(0.1, -1, 1)).toThrow(/noise multiplier/);
    expect(() => computeRdp(0.1, 1, 2.5)).toThrow(/steps must be a non-negative integer/);
    expect(() => computeRdp(0.1, 1, 1, [1])).toThrow(/order must be finite and > 1, got 1/);
    expect(() => computeEpsilon({ q: 0.1, noiseMultiplier: 1, steps: 1, delta: 0 })).toThrow(/delta/);
    expect(() => rdpToEpsilon([1], [2, 3], 1e-5)).toThrow(/1 values but there are 2 orders/);
  });

  it('refuses an RDP whose fractional-order series does not converge in a million terms', () => {
    expect(() => sampledGaussianRdp(0.3, 0.001, 1_000_000.5)).toThrow(
      new Error('RDP series did not converge for q=0.3, noise multiplier=0.001, order=1000000.5'),
    );
  });
});

describe('stepsUntilBudget', () => {
  it('returns the largest T with epsilon(T) <= target', () => {
    for (const [q, z, target] of [
      [0.01, 1.1, 1],
      [0.04, 1.5, 7.32911117143],
      [0.1, 0.8, 5],
      [1, 3, 2],
      // Rounds so cheap that the answer (3.6e10) is only reachable by solving per order, not by counting.
      [1e-6, 1, 1],
    ]) {
      const t = stepsUntilBudget({ q, noiseMultiplier: z, delta: 1e-5, targetEpsilon: target });
      expect(computeEpsilon({ q, noiseMultiplier: z, steps: t, delta: 1e-5 }).epsilon).toBeLessThanOrEqual(target);
      expect(computeEpsilon({ q, noiseMultiplier: z, steps: t + 1, delta: 1e-5 }).epsilon).toBeGreaterThan(target);
    }
    // The Opacus case above: epsilon after 2250 steps is a hair above 7.32911117143.
    expect(stepsUntilBudget({ q: 0.04, noiseMultiplier: 1.5, delta: 1e-5, targetEpsilon: 7.3291112 })).toBe(2250);
  });

  it('a target equal to epsilon(T) allows exactly T rounds, where the per-order solution rounds down to T - 1', () => {
    // Found by search: at these points floor(slack / rdp) lands one short and the exact check settles it.
    for (const [q, z, steps] of [
      [1, 3.277928231180612, 176],
      [0.5, 3.3068729684720157, 8],
      [0.01, 2.1610003959671595, 96],
      // Searched again on this accountant: here floor(slack / rdp) gives T - 1 at the last step.
      [1, 0.8000313054770377, 40],
      [0.01, 4.123861384449462, 11],
      [1, 3.4845975363089696, 3],
    ]) {
      const target = computeEpsilon({ q, noiseMultiplier: z, steps, delta: 1e-5 }).epsilon;
      expect(stepsUntilBudget({ q, noiseMultiplier: z, delta: 1e-5, targetEpsilon: target })).toBe(steps);
    }
  });

  it('a target a hair below epsilon(T) allows T - 1 rounds, where the per-order solution rounds up to T', () => {
    // Found by search: floor(slack / rdp) gives T through rounding, and the exact check takes it back.
    for (const [q, z, steps, target] of [
      [0.1, 2.1172492540056114, 226, 3.6366168210667813],
      [1, 3.7170887968116855, 264, 29.20778666126306],
      [1, 4.558290408066609, 120, 13.450440906613846],
      [0.1, 1.4142864006637998, 24, 2.3300919485055895],
    ]) {
      expect(computeEpsilon({ q, noiseMultiplier: z, steps, delta: 1e-5 }).epsilon).toBeGreaterThan(target);
      expect(stepsUntilBudget({ q, noiseMultiplier: z, delta: 1e-5, targetEpsilon: target })).toBe(steps - 1);
    }
  });

  it('counts what was already spent, and handles the degenerate cases', () => {
    const spentRdp = computeRdp(0.1, 1, 10);
    const fresh = stepsUntilBudget({ q: 0.1, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 6 });
    expect(stepsUntilBudget({ q: 0.1, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 6, spentRdp })).toBe(fresh - 10);
    expect(stepsUntilBudget({ q: 0, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 1 })).toBe(Infinity);
    expect(stepsUntilBudget({ q: 0.1, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 0.01 })).toBe(0);
    expect(stepsUntilBudget({ q: 0.1, noiseMultiplier: 0, delta: 1e-5, targetEpsilon: 100 })).toBe(0);
    // Exactly at the target after what was spent: free rounds still fit without end.
    const atTarget = rdpToEpsilon(spentRdp, DEFAULT_RDP_ORDERS, 1e-5).epsilon;
    expect(stepsUntilBudget({ q: 0, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: atTarget, spentRdp })).toBe(
      Infinity,
    );
    // Orders already far over budget do not count: only the one with nothing spent decides.
    const overAllButOne = DEFAULT_RDP_ORDERS.map((_, k) => (k === 20 ? 0 : 1e20));
    expect(
      stepsUntilBudget({ q: 0.1, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 8, spentRdp: overAllButOne }),
    ).toBe(
      stepsUntilBudget({ q: 0.1, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 8, orders: [DEFAULT_RDP_ORDERS[20]] }),
    );
    // An order exactly at its budget (slack 0: here log(0.5) + log(2) = 0 and the spent RDP cancels
    // log1p(-1/2)) with free rounds: unlimited, not a search upwards that never ends.
    const cancels = -Math.log1p(-0.5);
    expect(
      stepsUntilBudget({ q: 0, noiseMultiplier: 1, delta: 0.5, targetEpsilon: 0, orders: [2], spentRdp: [cancels] }),
    ).toBe(Infinity);
    // An order far over budget whose per-round cost is next to nothing (q = 1e-170 at order 2, where
    // it underflows to 0) does not decide: the order that is not over budget does.
    const tiny = { q: 1e-170, noiseMultiplier: 0.5, delta: 1e-5, targetEpsilon: 500 };
    expect(stepsUntilBudget({ ...tiny, orders: [2, 256], spentRdp: [1000, 0] })).toBe(
      stepsUntilBudget({ ...tiny, orders: [256] }),
    );
    expect(stepsUntilBudget({ ...tiny, orders: [256] })).toBe(4);
    // The per-order solution lands exactly on 2^53 - 1 (q = 1, z = 1: one round costs 1 at order 2, and
    // this delta makes the conversion add 0.6): capped there, with no search upwards, where t + 1 === t.
    const capped = { q: 1, noiseMultiplier: 1, delta: Math.exp(-2 * Math.LN2 - 0.6), orders: [2] };
    expect(stepsUntilBudget({ ...capped, targetEpsilon: 2 ** 53 })).toBe(Number.MAX_SAFE_INTEGER);
    // Practically free rounds: more than 2^53 fit.
    expect(stepsUntilBudget({ q: 1e-9, noiseMultiplier: 100, delta: 1e-5, targetEpsilon: 5 })).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });
});
