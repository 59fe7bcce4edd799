import type { SecAggSetup } from '../secagg/messages.js';
import {
  checkConfusion,
  classMetrics,
  flattenConfusion,
  unflattenConfusion,
  type ClassMetrics,
  type ConfusionMatrix,
} from './class-metrics.js';

/**
 * Federated evaluation as one SecAgg+ sum: each client's confusion matrix and example-weighted
 * loss go in masked, and the coordinator learns only their sums over the survivors.
 *
 * Encoding, derived from the number of participants N alone (both sides compute it; a client
 * refuses any other setup): every client weighs 1 (maxWeight 1) and the clip is
 * floor((2^31 - 1) / N) - 1, which makes the fixed-point scale exactly 1 (encoding.ts): a count c
 * is the word c, with no rounding. The vector is the k x k counts row-major, then one loss word,
 * clamp(loss, 0, LOSS_CAP) x numExamples x lossUnit.
 *
 * Exact counts: the words of N clients sum exactly in int32 (each is at most the clip). The
 * SecAgg+ server hands back the mean sum / S as float32 (24-bit significand), so
 * round(mean x S) is the exact sum while it is below 2^23: every count comes back exact whenever
 * each summed cell stays below 2^23 = 8,388,608, which holds whenever the survivors hold fewer
 * held-out examples than that together, for any N up to MAX_SECURE_EVALUATORS (1,000 clients:
 * 8,388 examples each on average). decodeEvaluation refuses a sum past that rather than report
 * counts it cannot vouch for.
 *
 * Loss (not exact): lossUnit = clip / (LOSS_CAP x MAX_SECURE_EVAL_EXAMPLES) so the loss word never
 * exceeds the clip; it is stochastically rounded, so with S survivors holding n examples the mean
 * loss is off by less than S / (lossUnit x n) (lossErrorBound).
 */

/** A client's mean held-out loss is clamped to [0, LOSS_CAP]: categorical cross-entropy, which tfjs caps near -ln(1e-7) = 16.1. */
export const LOSS_CAP = 32;
/** Most held-out examples one client may evaluate securely (keeps its loss word within the clip). */
export const MAX_SECURE_EVAL_EXAMPLES = 65_536;
/** Most evaluators in one session: each client's counts must stay within the clip and 2^24 (float32). */
export const MAX_SECURE_EVALUATORS = 32_767;
/** Summed words below this come back exact from the float32 mean; decodeEvaluation keeps one count of margin (refuses from 2^23 - 1 on). */
export const EXACT_SUM_LIMIT = 2 ** 23;

export interface SecureEvaluationEncoding {
  clip: number;
  maxWeight: 1;
  vectorLength: number;
  /** Words per unit of loss x example. */
  lossUnit: number;
}

export function secureEvaluationEncoding(participants: number, numClasses: number): SecureEvaluationEncoding {
  if (!Number.isSafeInteger(participants) || participants < 1 || participants > MAX_SECURE_EVALUATORS)
    throw new Error(`secure evaluation takes 1 to ${MAX_SECURE_EVALUATORS} clients, got ${participants}`);
  if (!Number.isSafeInteger(numClasses) || numClasses < 1)
    throw new Error(`secure evaluation needs a positive class count, got ${numClasses}`);
  const clip = Math.floor((2 ** 31 - 1) / participants) - 1;
  return {
    clip,
    maxWeight: 1,
    vectorLength: numClasses * numClasses + 1,
    lossUnit: clip / (LOSS_CAP * MAX_SECURE_EVAL_EXAMPLES),
  };
}

/** Why a client must not run this setup as a secure evaluation over `numClasses` classes, or undefined. */
export function secureEvaluationSetupProblem(setup: SecAggSetup, numClasses: number): string | undefined {
  const n = setup.participants.length;
  if (n > MAX_SECURE_EVALUATORS) return `it has ${n} participants, more than ${MAX_SECURE_EVALUATORS}`;
  const expected = secureEvaluationEncoding(n, numClasses);
  if (setup.wordBits !== undefined) return `it asks for ${setup.wordBits}-bit words; secure evaluation uses 32`;
  if (setup.maxWeight !== expected.maxWeight) return `its weight cap is ${setup.maxWeight}, not 1`;
  if (setup.clip !== expected.clip)
    return `its clip ${setup.clip} is not ${expected.clip}, the exact-count clip for ${n} participants`;
  if (setup.vectorLength !== expected.vectorLength)
    return `its vector has ${setup.vectorLength} values, not ${expected.vectorLength} (${numClasses}x${numClasses} counts and the loss)`;
  return undefined;
}

export interface LocalEvaluation {
  loss: number;
  numExamples: number;
  confusion: ConfusionMatrix;
}

/** One client's evaluation as its secure vector (counts, then the loss word). */
export function encodeEvaluation(e: LocalEvaluation, enc: SecureEvaluationEncoding): Float32Array {
  const k = Math.sqrt(enc.vectorLength - 1);
  checkConfusion(e.confusion, 'the held-out confusion matrix');
  if (e.confusion.length !== k)
    throw new Error(`the held-out confusion matrix has ${e.confusion.length} classes, the session ${k}`);
  const flat = flattenConfusion(e.confusion);
  const total = flat.reduce((a, b) => a + b, 0);
  if (total !== e.numExamples || e.numExamples < 1)
    throw new Error(`the confusion matrix counts ${total} examples, the evaluation ${e.numExamples}`);
  if (e.numExamples > MAX_SECURE_EVAL_EXAMPLES)
    throw new Error(
      `${e.numExamples} held-out examples exceed the ${MAX_SECURE_EVAL_EXAMPLES} one client may evaluate securely`,
    );
  if (!Number.isFinite(e.loss)) throw new Error(`the held-out loss is ${e.loss}`);
  const out = new Float32Array(enc.vectorLength);
  out.set(flat);
  out[k * k] = Math.min(LOSS_CAP, Math.max(0, e.loss)) * e.numExamples * enc.lossUnit;
  return out;
}

export interface SecureEvaluationSum {
  confusion: ConfusionMatrix;
  perClass: ClassMetrics[];
  numExamples: number;
  accuracy: number;
  /** Example-weighted mean of the clamped losses. */
  loss: number;
  /** Bound on |loss - exact weighted mean of the clamped losses|. */
  lossErrorBound: number;
}

/** The survivors' sums from the SecAgg+ mean of `survivors` clients (each of weight 1). */
export function decodeEvaluation(
  mean: Float32Array,
  survivors: number,
  enc: SecureEvaluationEncoding,
): SecureEvaluationSum {
  if (mean.length !== enc.vectorLength)
    throw new Error(`the secure evaluation sum has ${mean.length} values, expected ${enc.vectorLength}`);
  const k = Math.sqrt(enc.vectorLength - 1);
  const sums = Array.from(mean, (v) => v * survivors);
  const counts = sums.slice(0, k * k);
  const tooLarge = counts.findIndex((v) => !(v < EXACT_SUM_LIMIT - 1));
  if (tooLarge >= 0)
    throw new Error(
      `confusion cell ${tooLarge} sums to about ${Math.round(counts[tooLarge])}: counts from ${EXACT_SUM_LIMIT - 1} on cannot be recovered exactly from the float32 secure mean`,
    );
  const confusion = unflattenConfusion(counts, k);
  const numExamples = confusion.flat().reduce((a, b) => a + b, 0);
  if (numExamples === 0) throw new Error('the secure evaluation sum counts no examples');
  const correct = confusion.reduce((a, row, c) => a + row[c], 0);
  const lossWords = sums[k * k];
  return {
    confusion,
    perClass: classMetrics(confusion),
    numExamples,
    accuracy: correct / numExamples,
    loss: Math.min(LOSS_CAP, Math.max(0, lossWords / enc.lossUnit / numExamples)),
    lossErrorBound: (survivors + Math.abs(lossWords) * 2 ** -23) / (enc.lossUnit * numExamples),
  };
}
