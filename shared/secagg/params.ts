import { checkGraphDegree } from './graph.js';

/**
 * Defaults for the graph degree k and the Shamir threshold t, from the number of clients n and
 * explicit assumptions. Each client's secrets are split among its k neighbours, t-of-k:
 *  - correctness: the round aborts if some survivor keeps fewer than t live neighbours; with
 *    independent dropouts at rate `dropout`, n * P[Bin(k, 1 - dropout) < t] <= `failure`;
 *  - privacy: a client's update is exposed only if t of its neighbours collude with the
 *    coordinator; with each client corrupt at rate `corrupt`, n * P[Bin(k, corrupt) >= t] <= `exposure`.
 * k is the smallest even degree for which some t meets both, t the largest t meeting correctness.
 * When no k < n - 1 works, all clients are neighbours (k = n - 1, the original SecAgg).
 */
export interface SecAggAssumptions {
  dropout: number;
  corrupt: number;
  failure: number;
  exposure: number;
}

export const DEFAULT_ASSUMPTIONS: SecAggAssumptions = { dropout: 0.1, corrupt: 0.05, failure: 1e-3, exposure: 1e-6 };

export interface GraphParams {
  k: number;
  threshold: number;
}

/** Shamir over GF(256) has at most 255 shares. */
export const MAX_DEGREE = 254;

function logFactorials(k: number): Float64Array {
  const out = new Float64Array(k + 1);
  for (let i = 2; i <= k; i++) out[i] = out[i - 1] + Math.log(i);
  return out;
}

/** P[Bin(k, p) < t], in log space so that tiny probabilities do not underflow. */
export function binomialBelow(k: number, p: number, t: number): number {
  if (t <= 0) return 0;
  if (t > k) return 1;
  const lf = logFactorials(k);
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let sum = 0;
  for (let i = 0; i < t; i++) {
    const logPmf = lf[k] - lf[i] - lf[k - i] + (i === 0 ? 0 : i * lp) + (i === k ? 0 : (k - i) * lq);
    sum += Math.exp(logPmf);
  }
  return Math.min(1, sum);
}

function checkAssumptions(a: SecAggAssumptions): void {
  for (const key of ['dropout', 'corrupt', 'failure', 'exposure'] as const) {
    const v = a[key];
    if (!(v > 0 && v < 1)) throw new Error(`assumption ${key} must be in (0, 1), got ${v}`);
  }
}

/** Largest t in [2, k] meeting the correctness target, or 2 if none does. */
function largestCorrectThreshold(n: number, k: number, a: SecAggAssumptions): number {
  for (let t = k; t > 2; t--) if (n * binomialBelow(k, 1 - a.dropout, t) <= a.failure) return t;
  return 2;
}

function isPrivate(n: number, k: number, t: number, a: SecAggAssumptions): boolean {
  return n * (1 - binomialBelow(k, a.corrupt, t)) <= a.exposure;
}

function checkClientCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 3) throw new Error(`secure aggregation needs at least 3 clients, got ${n}`);
}

export function defaultGraphParams(n: number, assumptions: SecAggAssumptions = DEFAULT_ASSUMPTIONS): GraphParams {
  checkClientCount(n);
  checkAssumptions(assumptions);
  for (let k = 2; k < n - 1 && k <= MAX_DEGREE; k += 2) {
    const t = largestCorrectThreshold(n, k, assumptions);
    if (n * binomialBelow(k, 1 - assumptions.dropout, t) <= assumptions.failure && isPrivate(n, k, t, assumptions)) return { k, threshold: t };
  }
  if (n - 1 > MAX_DEGREE) throw new Error(`no degree up to ${MAX_DEGREE} meets the assumptions for ${n} clients; relax them or set k and threshold`);
  return { k: n - 1, threshold: largestCorrectThreshold(n, n - 1, assumptions) };
}

/** Configured k and/or threshold, the rest defaulted, all validated against n. */
export function resolveGraphParams(n: number, configured: Partial<GraphParams> = {}, assumptions: SecAggAssumptions = DEFAULT_ASSUMPTIONS): GraphParams {
  checkClientCount(n);
  const defaults = defaultGraphParams(n, assumptions);
  const k = configured.k === undefined ? defaults.k : Math.min(configured.k, n - 1);
  checkGraphDegree(n, k);
  const threshold = configured.threshold ?? (configured.k === undefined ? defaults.threshold : largestCorrectThreshold(n, k, assumptions));
  checkThreshold(k, threshold);
  return { k, threshold };
}

export function checkThreshold(k: number, threshold: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 2 || threshold > k) {
    throw new Error(`threshold must be an integer in [2, k = ${k}], got ${threshold}`);
  }
}
