import { checkGraphDegree } from './graph.js';

/**
 * Defaults for the graph degree k and the Shamir threshold t, from the number of clients n and
 * explicit assumptions. Each client's secrets are split among its k neighbours, t-of-k:
 *  - correctness: the round aborts if some survivor keeps fewer than t live neighbours; with
 *    independent dropouts at rate `dropout`, n * P[Bin(k, 1 - dropout) < t] <= `failure`;
 *  - privacy against an active coordinator: it can show two halves of a client's neighbours
 *    different survivor lists and collect t shares of both of that client's secrets once 2t - k of
 *    its neighbours collude with it (see activeCollusionBound); with each client corrupt at rate
 *    `corrupt`, n * P[Bin(k, corrupt) >= 2t - k] <= `exposure`;
 *  - the floor: t >= minimumThreshold(k), so that no single colluding neighbour suffices.
 * k is the smallest even degree for which some t meets all three, t the largest t meeting correctness.
 * When no k < n - 1 works, all clients are neighbours (k = n - 1, the original SecAgg) and t is the
 * larger of the floor and the correct threshold.
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

/**
 * How many of a client's k neighbours may collude with the coordinator before its update can be
 * unmasked. Each neighbour reveals one share per peer: of its self-mask seed if told the peer
 * survived, of its masking key if told it dropped. A semi-honest coordinator needs t colluders; an
 * active one can split the honest neighbours between the two stories, so it needs c with
 * t - c + t - c <= k - c, i.e. c >= 2t - k (when 2t - k <= t, always true as t <= k).
 */
export function activeCollusionBound(k: number, t: number): number {
  return 2 * t - k;
}

/**
 * The smallest threshold clients accept for degree k: 2t - k >= 2, so that an active coordinator
 * needs at least two colluding neighbours of its victim (t > k/2 alone lets one sybil suffice for odd k).
 */
export function minimumThreshold(k: number): number {
  return Math.ceil((k + 2) / 2);
}

function isPrivate(n: number, k: number, t: number, a: SecAggAssumptions): boolean {
  return n * (1 - binomialBelow(k, a.corrupt, activeCollusionBound(k, t))) <= a.exposure;
}

function checkClientCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 3) throw new Error(`secure aggregation needs at least 3 clients, got ${n}`);
}

export function defaultGraphParams(n: number, assumptions: SecAggAssumptions = DEFAULT_ASSUMPTIONS): GraphParams {
  checkClientCount(n);
  checkAssumptions(assumptions);
  for (let k = 2; k < n - 1 && k <= MAX_DEGREE; k += 2) {
    const t = largestCorrectThreshold(n, k, assumptions);
    const correct = n * binomialBelow(k, 1 - assumptions.dropout, t) <= assumptions.failure;
    if (correct && t >= minimumThreshold(k) && isPrivate(n, k, t, assumptions)) return { k, threshold: t };
  }
  if (n - 1 > MAX_DEGREE)
    throw new Error(
      `no degree up to ${MAX_DEGREE} meets the assumptions for ${n} clients; relax them or set k and threshold`,
    );
  const k = n - 1;
  return { k, threshold: Math.max(minimumThreshold(k), largestCorrectThreshold(n, k, assumptions)) };
}

/** Configured k and/or threshold, the rest defaulted, all validated against n. */
export function resolveGraphParams(
  n: number,
  configured: Partial<GraphParams> = {},
  assumptions: SecAggAssumptions = DEFAULT_ASSUMPTIONS,
): GraphParams {
  checkClientCount(n);
  const defaults = defaultGraphParams(n, assumptions);
  const k = configured.k === undefined ? defaults.k : Math.min(configured.k, n - 1);
  checkGraphDegree(n, k);
  const threshold =
    configured.threshold ??
    (configured.k === undefined
      ? defaults.threshold
      : Math.max(minimumThreshold(k), largestCorrectThreshold(n, k, assumptions)));
  checkThreshold(k, threshold);
  return { k, threshold };
}

/** Both sides refuse a threshold below the floor: a coordinator cannot talk clients into a weak round. */
export function checkThreshold(k: number, threshold: number): void {
  const floor = minimumThreshold(k);
  if (!Number.isSafeInteger(threshold) || threshold < floor || threshold > k) {
    throw new Error(
      `threshold must be an integer in [${floor}, k = ${k}], got ${threshold}: below ${floor}, fewer than 2 colluding neighbours ` +
        'would let an active coordinator unmask a client (2t - k >= 2)',
    );
  }
}
