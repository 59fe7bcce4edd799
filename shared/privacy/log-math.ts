/**
 * Log-space arithmetic for the RDP accountant, where the quantities of interest range over
 * hundreds of orders of magnitude (exp(±1000) and beyond) and must never overflow or underflow.
 */

/** log(exp(a) + exp(b)). */
export function logAddExp(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** log(exp(a) - exp(b)) for a >= b; -Infinity when they are equal. */
export function logSubExp(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a < b) throw new Error(`logSubExp: log(exp(${a}) - exp(${b})) is the log of a negative number`);
  if (a === b) return -Infinity;
  return a + Math.log(-Math.expm1(b - a));
}

/** log(e^x - 1) for x > 0: no overflow for large x, no cancellation for small x. */
export function logExpm1(x: number): number {
  if (!(x > 0)) throw new Error(`logExpm1: x must be > 0, got ${x}`);
  // Past 40, e^x - 1 rounds to e^x (e^-40 is below double precision's relative step), and expm1
  // itself would overflow past 709.
  return x > 40 ? x : Math.log(Math.expm1(x));
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** Below it the erf series is used (erfc >= 0.0047 there, so 1 - erf loses at most ~2 digits). */
const SERIES_LIMIT = 2;

/**
 * erf(x) for 0 <= x < SERIES_LIMIT from the all-positive series
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n x^(2n+1) 2^n / (1*3*...*(2n+1)), free of cancellation.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 0; term > 1e-17 * sum; n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * log(erfc(x)) for x >= SERIES_LIMIT via erfc(x) = exp(-x^2) / (sqrt(pi) * K(x)),
 * K(x) = x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / (x + ...)))), by the modified Lentz method.
 * Working with -x^2 directly keeps full relative accuracy where erfc itself underflows. Every term
 * is positive (x >= 2, a > 0), so c and d never reach the zero that Lentz's method otherwise guards.
 */
function logErfcTail(x: number): number {
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 10_000; k++) {
    const a = k / 2;
    d = 1 / (x + a * d);
    c = x + a / c;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 3e-16) return -x * x - LOG_SQRT_PI - Math.log(f);
  }
  throw new Error(`logErfc: continued fraction did not converge at x = ${x}`);
}

/** log(erfc(x)) with full relative accuracy for every finite x, including far into the tail. */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) throw new Error('logErfc: x is NaN');
  if (x === Infinity) return -Infinity;
  if (x === -Infinity) return Math.LN2;
  if (x >= SERIES_LIMIT) return logErfcTail(x);
  if (x >= 0) return Math.log1p(-erfSeries(x));
  // erfc(x) = 2 - erfc(-x) lies in (1, 2]: no cancellation on this side.
  const t = -x;
  const erfcT = t >= SERIES_LIMIT ? Math.exp(logErfcTail(t)) : 1 - erfSeries(t);
  return Math.log(2 - erfcT);
}
