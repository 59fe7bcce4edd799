/**
 * Renyi-DP accountant for the sampled Gaussian mechanism (Mironov 2017; Mironov, Talwar & Zhang
 * 2019), as in Opacus and TF Privacy: Poisson sampling with rate q, Gaussian noise with
 * multiplier sigma (std = sigma * sensitivity), add/remove-one adjacency. RDP composes by
 * addition over steps; the (epsilon, delta) conversion is the improved bound of Balle et al.
 * 2020 / Canonne, Kamath & Steinke 2020.
 */
import { logAddExp, logErfc, logExpm1, logSubExp } from './log-math.js';

/** Opacus / TF Privacy default orders: 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63. */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  // 1 + x / 10 (not (10 + x) / 10) so the orders are bit-identical to Opacus' list.
  ...Array.from({ length: 99 }, (_, k) => 1 + (k + 1) / 10),
  ...Array.from({ length: 52 }, (_, k) => 12 + k),
]);

/** A series term below e^-30 no longer changes log(A) in double precision. */
const SERIES_STOP_LOG = -30;
const MAX_SERIES_TERMS = 1_000_000;
/**
 * The fractional series' cancelling sums leave log(A) an absolute error of ~2e-13 (truncation at
 * e^-30 plus rounding around 1); below 1e-11 its value is not trusted.
 */
const FRACTIONAL_RESOLUTION = 1e-11;

function checkProbability(q: number): void {
  if (!(q >= 0 && q <= 1)) throw new Error(`sampling rate q must be in [0, 1], got ${q}`);
}

function checkNoiseMultiplier(sigma: number): void {
  if (!(sigma >= 0 && Number.isFinite(sigma))) {
    throw new Error(`noise multiplier must be finite and >= 0, got ${sigma}`);
  }
}

function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new Error('orders must not be empty');
  for (const a of orders) {
    if (!(a > 1 && Number.isFinite(a))) throw new Error(`every RDP order must be finite and > 1, got ${a}`);
  }
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new Error(`delta must be in (0, 1), got ${delta}`);
}

function checkSteps(steps: number): void {
  if (!(Number.isSafeInteger(steps) && steps >= 0)) {
    throw new Error(`steps must be a non-negative integer, got ${steps}`);
  }
}

/**
 * log A_alpha for integer alpha from the binomial expansion. The i = 0 and i = 1 terms carry no
 * privacy loss (their exponent is 0) and, with the rest of the binomial weights, sum to exactly 1;
 * so A - 1 = sum over i >= 2 of C(alpha, i) q^i (1-q)^(alpha-i) (e^((i^2-i)/2 sigma^2) - 1), all
 * positive. Summing A - 1 (not A) keeps log A >= 0 even where the cost is far below rounding of 1
 * (q = 1e-170 would otherwise round to a negative RDP that gives budget back).
 */
function logAIntegerOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  let logAMinus1 = -Infinity;
  let logBinom = Math.log(alpha);
  for (let i = 2; i <= alpha; i++) {
    logBinom += Math.log((alpha - i + 1) / i);
    const term = logBinom + i * logQ + (alpha - i) * log1mQ + logExpm1((i * i - i) / twoVar);
    logAMinus1 = logAddExp(logAMinus1, term);
  }
  return logAddExp(0, logAMinus1);
}

/**
 * log A_alpha for fractional alpha: the two-sided series split at
 * z0 = sigma^2 log(1/q - 1) + 1/2 (Mironov, Talwar & Zhang 2019, section 3.3). Binomial
 * coefficients of a fractional alpha change sign past alpha, so positive and negative terms are
 * accumulated separately and subtracted once at the end.
 */
function logAFractionalOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoVar = 2 * sigma * sigma;
  const sqrt2Sigma = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5;
  let pos0 = -Infinity;
  let neg0 = -Infinity;
  let pos1 = -Infinity;
  let neg1 = -Infinity;
  let logAbsBinom = 0;
  let sign = 1;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    if (i > 0) {
      const ratio = (alpha - i + 1) / i;
      logAbsBinom += Math.log(Math.abs(ratio));
      if (ratio < 0) sign = -sign;
    }
    const j = alpha - i;
    const s0 = logAbsBinom + i * logQ + j * log1mQ + (i * i - i) / twoVar - Math.LN2 + logErfc((i - z0) / sqrt2Sigma);
    const s1 = logAbsBinom + j * logQ + i * log1mQ + (j * j - j) / twoVar - Math.LN2 + logErfc((z0 - j) / sqrt2Sigma);
    if (sign > 0) {
      pos0 = logAddExp(pos0, s0);
      pos1 = logAddExp(pos1, s1);
    } else {
      neg0 = logAddExp(neg0, s0);
      neg1 = logAddExp(neg1, s1);
    }
    if (Math.max(s0, s1) < SERIES_STOP_LOG) {
      return logAddExp(logSubExp(pos0, neg0), logSubExp(pos1, neg1));
    }
  }
  throw new Error(`RDP series did not converge for q=${q}, noise multiplier=${sigma}, order=${alpha}`);
}

/** RDP of one step of the sampled Gaussian mechanism at order alpha. */
export function sampledGaussianRdp(q: number, noiseMultiplier: number, order: number): number {
  checkProbability(q);
  checkNoiseMultiplier(noiseMultiplier);
  checkOrders([order]);
  if (q === 0) return 0;
  if (noiseMultiplier === 0) return Infinity;
  if (q === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  if (!Number.isInteger(order)) {
    const logA = logAFractionalOrder(q, noiseMultiplier, order);
    if (logA >= FRACTIONAL_RESOLUTION) return logA / (order - 1);
  }
  // Integer orders exactly; a fractional order below the series' resolution, where its value is
  // rounding noise (possibly negative: budget given back), by the next integer order's exact value,
  // an upper bound since RDP grows with the order.
  const integerOrder = Math.ceil(order);
  return logAIntegerOrder(q, noiseMultiplier, integerOrder) / (integerOrder - 1);
}

/**
 * RDP of `steps` compositions of the sampled Gaussian mechanism at each order
 * (Opacus `compute_rdp(q, noise_multiplier, steps, orders)`).
 */
export function computeRdp(
  q: number,
  noiseMultiplier: number,
  steps: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  checkSteps(steps);
  checkOrders(orders);
  // Zero steps cost nothing even when one step would cost Infinity (no noise).
  return orders.map((a) => (steps === 0 ? 0 : sampledGaussianRdp(q, noiseMultiplier, a) * steps));
}

export interface EpsilonResult {
  epsilon: number;
  /** The order attaining the minimum; null when every order gives an infinite epsilon. */
  order: number | null;
  /**
   * Set when the optimum is the first or last order: a wider list of orders could give a smaller
   * epsilon (the reported value is still a valid upper bound).
   */
  orderAtEdge: 'smallest' | 'largest' | null;
}

/**
 * (epsilon, delta)-DP from total RDP at each order, improved conversion:
 * eps = min_a [ rdp(a) + log((a - 1) / a) - (log(delta) + log(a)) / (a - 1) ], floored at 0.
 */
export function rdpToEpsilon(rdp: readonly number[], orders: readonly number[], delta: number): EpsilonResult {
  checkOrders(orders);
  checkDelta(delta);
  if (rdp.length !== orders.length) {
    throw new Error(`rdp has ${rdp.length} values but there are ${orders.length} orders`);
  }
  const logDelta = Math.log(delta);
  let best = Infinity;
  let bestIndex = -1;
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    const r = rdp[k];
    if (!(r >= 0)) throw new Error(`RDP values must be >= 0, got ${r} at order ${a}`);
    const eps = r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    if (eps < best) {
      best = eps;
      bestIndex = k;
    }
  }
  if (bestIndex < 0) return { epsilon: Infinity, order: null, orderAtEdge: null };
  const orderAtEdge = bestIndex === 0 ? 'smallest' : bestIndex === orders.length - 1 ? 'largest' : null;
  return { epsilon: Math.max(0, best), order: orders[bestIndex], orderAtEdge };
}

export interface EpsilonQuery {
  /** Poisson sampling rate: expected clients per round / population. */
  q: number;
  noiseMultiplier: number;
  /** Number of rounds (compositions). */
  steps: number;
  delta: number;
  orders?: readonly number[];
}

/** Epsilon after `steps` rounds of the sampled Gaussian mechanism at the given delta. */
export function computeEpsilon(query: EpsilonQuery): EpsilonResult {
  const orders = query.orders ?? DEFAULT_RDP_ORDERS;
  return rdpToEpsilon(computeRdp(query.q, query.noiseMultiplier, query.steps, orders), orders, query.delta);
}

export interface BudgetQuery {
  q: number;
  noiseMultiplier: number;
  delta: number;
  targetEpsilon: number;
  orders?: readonly number[];
  /** RDP already spent at each order (same order list), e.g. by earlier rounds; zeros if absent. */
  spentRdp?: readonly number[];
}

/**
 * The largest number of further rounds T (0 if not even one) such that epsilon after them stays
 * <= targetEpsilon; Infinity when rounds cost nothing (q = 0).
 */
export function stepsUntilBudget(query: BudgetQuery): number {
  const orders = query.orders ?? DEFAULT_RDP_ORDERS;
  checkOrders(orders);
  checkDelta(query.delta);
  if (!(query.targetEpsilon >= 0)) throw new Error(`targetEpsilon must be >= 0, got ${query.targetEpsilon}`);
  const spent = query.spentRdp ?? orders.map(() => 0);
  if (spent.length !== orders.length) {
    throw new Error(`spentRdp has ${spent.length} values but there are ${orders.length} orders`);
  }
  const perStep = orders.map((a) => sampledGaussianRdp(query.q, query.noiseMultiplier, a));
  const epsilonAfter = (t: number) =>
    rdpToEpsilon(
      perStep.map((r, k) => spent[k] + (t === 0 ? 0 : r * t)),
      orders,
      query.delta,
    ).epsilon;
  if (epsilonAfter(0) > query.targetEpsilon) return 0;
  // epsilon(T) <= target iff some order a has spent_a + T r_a + c_a <= target: solve per order.
  const logDelta = Math.log(query.delta);
  let t = 0;
  for (let k = 0; k < orders.length; k++) {
    const a = orders[k];
    const slack = query.targetEpsilon - spent[k] - Math.log1p(-1 / a) + (logDelta + Math.log(a)) / (a - 1);
    if (slack < 0) continue;
    if (perStep[k] === 0) return Infinity;
    t = Math.max(t, Math.floor(slack / perStep[k]));
  }
  // Beyond 2^53 rounds t + 1 === t: the budget is unlimited for any practical purpose.
  if (t >= Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  // The per-order solution can be off by one through rounding; settle it on the exact criterion.
  while (t > 0 && epsilonAfter(t) > query.targetEpsilon) t--;
  while (epsilonAfter(t + 1) <= query.targetEpsilon) t++;
  return t;
}
