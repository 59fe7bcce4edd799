import { describe, expect, it } from 'vitest';
import { logAddExp, logErfc, logExpm1, logSubExp } from '../../../shared/privacy/log-math.js';
import reference from './rdp-reference.json' with { type: 'json' };

describe('log-space helpers', () => {
  it('logErfc matches mpmath (40 digits) to 1e-14 relative, deep into the tail', () => {
    for (const { x, logErfc: expected } of reference.logErfc) {
      expect(Math.abs(logErfc(x) - expected)).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(expected)));
    }
  });

  it('logErfc uses the continued fraction from x = 2 on, both ways: full accuracy at the branch points', () => {
    // mpmath, 40 digits. At 2 the series' 1 - erf loses about two digits (an error near 5e-14), and
    // at -2 it leaves 2 - erfc(2) two ulps off; the tail gives both to within an ulp or so.
    expect(Math.abs(logErfc(2) - -5.364941264616637574467648503648559)).toBeLessThanOrEqual(5e-15);
    expect(Math.abs(logErfc(-2) - 0.6908055736465876567632438279326145)).toBeLessThanOrEqual(1e-16);
  });

  it('logErfc stays finite where erfc itself underflows', () => {
    expect(Math.log(Math.exp(-30 * 30))).toBe(-Infinity);
    // Asymptotic expansion: log erfc(x) = -x^2 - log(x sqrt(pi)) - 1/(2x^2) + 5/(8x^4) + O(x^-6).
    expect(logErfc(30)).toBeCloseTo(
      -900 - Math.log(30 * Math.sqrt(Math.PI)) - 1 / (2 * 30 ** 2) + 5 / (8 * 30 ** 4),
      7,
    );
    expect(logErfc(Infinity)).toBe(-Infinity);
    expect(logErfc(-Infinity)).toBe(Math.LN2);
    expect(() => logErfc(Number.NaN)).toThrow(/NaN/);
  });

  it('logAddExp and logSubExp neither overflow nor underflow', () => {
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logAddExp(-1000, -Infinity)).toBe(-1000);
    // log(0 + 0): -Infinity, not NaN from -Infinity - -Infinity.
    expect(logAddExp(-Infinity, -Infinity)).toBe(-Infinity);
    expect(logSubExp(1000, 1000 - Math.LN2)).toBeCloseTo(1000 - Math.LN2, 12);
    expect(logSubExp(5, 5)).toBe(-Infinity);
    expect(() => logSubExp(1, 2)).toThrow(/negative/);
  });

  it('logExpm1 keeps full accuracy for tiny and huge x, on both sides of its branch, and refuses x <= 0', () => {
    // log(e^x - 1) = log(x) + x/2 + x^2/24 + ... for small x; = x + log1p(-e^-x) for large x.
    expect(logExpm1(1e-300)).toBeCloseTo(Math.log(1e-300), 12);
    expect(Math.abs(logExpm1(1e-8) - (Math.log(1e-8) + 5e-9))).toBeLessThan(1e-15);
    expect(logExpm1(1000)).toBe(1000);
    expect(Math.abs(logExpm1(1)) - Math.abs(Math.log(Math.E - 1))).toBeLessThan(1e-16);
    for (const x of [39.999, 40, 40.001]) {
      expect(Math.abs(logExpm1(x) - (x + Math.log1p(-Math.exp(-x))))).toBeLessThanOrEqual(1e-14 * x);
    }
    expect(() => logExpm1(0)).toThrow(/x must be > 0, got 0/);
    expect(() => logExpm1(Number.NaN)).toThrow(/x must be > 0/);
  });
});
