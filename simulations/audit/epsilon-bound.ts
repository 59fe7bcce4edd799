/**
 * From canary guesses to an empirical epsilon lower bound: the one-run theorem of Steinke, Nasr and
 * Jagielski 2023 ("Privacy Auditing with One (1) Training Run": the main theorem, with delta, as
 * computed in its Appendix D).
 *
 * m canaries are each included independently with probability 1/2; the auditor makes r guesses
 * (in or out, abstaining on the rest) and v of them are right. If the mechanism is (eps, delta)-DP
 * with respect to every canary, then with p = e^eps / (1 + e^eps) and W the number of right guesses
 *
 *   P[W >= v] <= P[Bin(r, p) >= v] + 2 m delta max_{i = 1..v} P[v - i <= Bin(r, p) < v] / i.
 *
 * The right-hand side is the p-value of "the mechanism is (eps, delta)-DP"; the lower bound is the
 * largest eps that the observation still rejects at confidence 1 - beta.
 */

export interface GuessOutcome {
  /** m: canaries, each included with probability 1/2. */
  canaries: number;
  /** r: guesses made (abstentions excluded). */
  guesses: number;
  /** v: guesses that were right. */
  correct: number;
  /** The delta of the (eps, delta) guarantee under test. */
  delta: number;
}

function checkOutcome({ canaries: m, guesses: r, correct: v, delta }: GuessOutcome): void {
  if (!(Number.isSafeInteger(m) && m >= 1)) throw new Error(`canaries must be an integer >= 1, got ${m}`);
  if (!(Number.isSafeInteger(r) && r >= 0 && r <= m))
    throw new Error(`guesses must be an integer in [0, canaries = ${m}], got ${r}`);
  if (!(Number.isSafeInteger(v) && v >= 0 && v <= r))
    throw new Error(`correct guesses must be an integer in [0, guesses = ${r}], got ${v}`);
  if (!(delta >= 0 && delta < 1)) throw new Error(`delta must be in [0, 1), got ${delta}`);
  // Below 1 the p-value grows strictly with eps (see epsilonLowerBound), which the search relies on.
  if (!(2 * m * delta < 1))
    throw new Error(`2 x canaries x delta must be < 1 for a meaningful audit, got ${2 * m * delta}`);
}

/** log k! for k = 0..n, summed exactly enough for the few thousand guesses an audit makes. */
function logFactorials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let k = 2; k <= n; k++) out[k] = out[k - 1] + Math.log(k);
  return out;
}

/** P[Bin(r, p) = k] for k = 0..r, with p = e^eps / (1 + e^eps), computed in log space (p can be 1 - 1e-9). */
function binomialPmf(r: number, epsilon: number, logFact: Float64Array): Float64Array {
  // log p = -log(1 + e^-eps); log(1 - p) = -eps - log(1 + e^-eps): no cancellation for large eps.
  const logP = -Math.log1p(Math.exp(-epsilon));
  const log1mP = -epsilon + logP;
  const pmf = new Float64Array(r + 1);
  for (let k = 0; k <= r; k++)
    pmf[k] = Math.exp(logFact[r] - logFact[k] - logFact[r - k] + k * logP + (r - k) * log1mP);
  return pmf;
}

function pValueFromPmf(outcome: GuessOutcome, pmf: Float64Array): number {
  const { canaries: m, guesses: r, correct: v, delta } = outcome;
  let tail = 0;
  for (let k = v; k <= r; k++) tail += pmf[k];
  let alpha = 0;
  if (delta > 0) {
    let below = 0; // P[v - i <= Bin < v]
    for (let i = 1; i <= v; i++) {
      below += pmf[v - i];
      alpha = Math.max(alpha, below / i);
    }
  }
  return Math.min(1, tail + 2 * m * delta * alpha);
}

/** The theorem's bound on P[W >= correct] for an (epsilon, delta)-DP mechanism: the p-value of that hypothesis. */
export function auditPValue(outcome: GuessOutcome, epsilon: number): number {
  checkOutcome(outcome);
  if (!(epsilon >= 0 && Number.isFinite(epsilon))) throw new Error(`epsilon must be finite and >= 0, got ${epsilon}`);
  return pValueFromPmf(outcome, binomialPmf(outcome.guesses, epsilon, logFactorials(outcome.guesses)));
}

/** Bisection stops when the bracket is this narrow; the bound is the lower end, so it errs low. */
const EPSILON_RESOLUTION = 1e-9;

/**
 * The largest epsilon whose hypothesis "(epsilon, delta)-DP" the outcome rejects at confidence
 * 1 - beta (p-value < beta), or 0 when not even epsilon = 0 is rejected.
 *
 * With c = 2 m delta < 1 the p-value increases strictly with epsilon: each term of the max,
 * (1 - c / i) P[Bin >= v] + (c / i) P[Bin >= v - i], is a positive mix of binomial upper tails,
 * which grow with p (strictly for v >= 1). So the rejected epsilons form an interval [0, bound)
 * and bisection finds its end.
 */
export function epsilonLowerBound(outcome: GuessOutcome, confidence: number): number {
  checkOutcome(outcome);
  if (!(confidence > 0 && confidence < 1)) throw new Error(`confidence must be in (0, 1), got ${confidence}`);
  const beta = 1 - confidence;
  const logFact = logFactorials(outcome.guesses);
  const pValue = (eps: number) => pValueFromPmf(outcome, binomialPmf(outcome.guesses, eps, logFact));
  if (pValue(0) >= beta) return 0;
  let lo = 0;
  let hi = 1;
  // As eps grows P[Bin(r, p) >= v] tends to 1, so an upper end exists; 2^10 is far beyond any audit.
  while (pValue(hi) < beta) {
    lo = hi;
    hi *= 2;
    if (hi > 1024) throw new Error('the epsilon lower bound search did not terminate');
  }
  while (hi - lo > EPSILON_RESOLUTION) {
    const mid = (lo + hi) / 2;
    if (pValue(mid) < beta) lo = mid;
    else hi = mid;
  }
  return lo;
}
