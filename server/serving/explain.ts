import type { IncomingMessage, ServerResponse } from 'node:http';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { HttpError, readBodyBytes, sendJson } from './http-io.js';
import { DenseTensor, JsonBodyError, parseJsonTensors } from './json-tensors.js';
import { itemLabel, parseTfServingBody } from './predict-request.js';
import type { ServedModel } from './served-model.js';
import { batchSize, flattenBatch, float32ToJson, InputError } from './tensor-json.js';

/**
 * `POST /v1/models/<name>[/versions/N]:explain`: per-input attributions of one output class.
 *
 * - integrated_gradients (default): (x - b) * mean over alpha of dF_c/dx at b + alpha (x - b),
 *   with the baseline b = all zeros (a black image) and `steps` trapezoid points along the path;
 *   the attributions sum to F_c(x) - F_c(b) up to the quadrature error, reported per instance as
 *   `convergence_delta`.
 * - gradient_x_input: x * dF_c/dx at x (one gradient; no completeness guarantee).
 *
 * The class c is `targets[i]` when given, else the model's top class for the instance. Cost is
 * bounded: at most MAX_STEPS steps, and instances x steps gradient evaluations at most
 * MAX_EXPLAIN_EVALUATIONS per request (400 beyond either), run in batches of EXPLAIN_BATCH, and
 * at most MAX_CONCURRENT_EXPLAINS requests at once per process (503 beyond).
 */
export const DEFAULT_STEPS = 32;
export const MAX_STEPS = 256;
export const MAX_EXPLAIN_EVALUATIONS = 1024;
const EXPLAIN_BATCH = 64;
/** Explain requests in progress in this process at once; more get 503 with Retry-After. */
export const MAX_CONCURRENT_EXPLAINS = 2;
let explainsInProgress = 0;
const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
const MAX_BODY_DEPTH = 64;

const ExplainOptions = z.strictObject({
  method: z.enum(['integrated_gradients', 'gradient_x_input']).default('integrated_gradients'),
  steps: z
    .int()
    .min(2)
    .max(MAX_STEPS, { error: `at most ${MAX_STEPS} steps per instance` })
    .default(DEFAULT_STEPS),
  targets: z.array(z.int().min(0)).optional(),
});
export type ExplainMethod = z.infer<typeof ExplainOptions>['method'];

export interface Explanation {
  target: number;
  /** The model's outputs for the instance. */
  prediction: Float32Array;
  attributions: Float32Array;
  /** F_target(x) and, for integrated gradients, F_target(baseline) and sum(attributions) - (F(x) - F(b)). */
  output: number;
  baselineOutput?: number;
  convergenceDelta?: number;
}

/** A gradient-capable copy of each served version (the served model itself is kept for predict). */
const models = new Map<number, { artifact: ServedModel['artifact']; model: Promise<tf.LayersModel> }>();
const CACHED_VERSIONS = 2;

function gradientModel(m: ServedModel): Promise<tf.LayersModel> {
  const hit = models.get(m.version);
  if (hit && hit.artifact === m.artifact) {
    models.delete(m.version);
    models.set(m.version, hit);
    return hit.model;
  }
  const w = m.artifact.weights;
  const model = tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: m.artifact.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: m.artifact.weightSpecs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' as const })),
      weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
    }),
  );
  models.set(m.version, { artifact: m.artifact, model });
  while (models.size > CACHED_VERSIONS) {
    const [oldest, entry] = models.entries().next().value!;
    models.delete(oldest);
    void entry.model.then((old) => old.dispose());
  }
  return model;
}

/** Trapezoid weights of `steps` points alpha_k = k / (steps - 1) on [0, 1]. */
function trapezoid(steps: number): { alphas: number[]; weights: number[] } {
  const alphas = Array.from({ length: steps }, (_, k) => k / (steps - 1));
  const weights = alphas.map((_, k) => (k === 0 || k === steps - 1 ? 0.5 : 1) / (steps - 1));
  return { alphas, weights };
}

/** Gradients of output `target` at each of `points` (count x featureSize values), in batches. */
async function gradients(
  model: tf.LayersModel,
  inputShape: number[],
  points: Float32Array,
  count: number,
  target: number,
  featureSize: number,
): Promise<Float32Array> {
  const out = new Float32Array(count * featureSize);
  const grad = tf.grad((x: tf.Tensor) => (model.predict(x) as tf.Tensor2D).slice([0, target], [-1, 1]).sum());
  for (let start = 0; start < count; start += EXPLAIN_BATCH) {
    const n = Math.min(EXPLAIN_BATCH, count - start);
    const g = tf.tidy(() =>
      grad(tf.tensor(points.subarray(start * featureSize, (start + n) * featureSize), [n, ...inputShape], 'float32')),
    );
    try {
      out.set(await g.data<'float32'>(), start * featureSize);
    } finally {
      g.dispose();
    }
  }
  return out;
}

/** Attributions for n instances (n * featureSize values) with the served model's weights. */
export async function explain(
  m: ServedModel,
  x: Float32Array,
  n: number,
  method: ExplainMethod,
  steps: number,
  targets: number[] | undefined,
): Promise<Explanation[]> {
  const f = m.featureSize;
  const outputs = await m.predict(x, n);
  const classes = m.outputSize;
  const model = await gradientModel(m);
  const baseline = method === 'integrated_gradients' ? await m.predict(new Float32Array(f), 1) : undefined;
  const result: Explanation[] = [];
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * f, (i + 1) * f);
    const prediction = outputs.slice(i * classes, (i + 1) * classes);
    const target = targets ? targets[i] : prediction.indexOf(Math.max(...prediction));
    const attributions = new Float32Array(f);
    if (method === 'gradient_x_input') {
      const g = await gradients(model, m.inputShape, Float32Array.from(xi), 1, target, f);
      for (let j = 0; j < f; j++) attributions[j] = g[j] * xi[j];
      result.push({ target, prediction, attributions, output: prediction[target] });
      continue;
    }
    const { alphas, weights } = trapezoid(steps);
    const path = new Float32Array(steps * f);
    alphas.forEach((a, k) => {
      for (let j = 0; j < f; j++) path[k * f + j] = a * xi[j];
    });
    const g = await gradients(model, m.inputShape, path, steps, target, f);
    for (let k = 0; k < steps; k++) for (let j = 0; j < f; j++) attributions[j] += weights[k] * g[k * f + j];
    for (let j = 0; j < f; j++) attributions[j] *= xi[j];
    const baselineOutput = baseline![target];
    const total = attributions.reduce((a, b) => a + b, 0);
    result.push({
      target,
      prediction,
      attributions,
      output: prediction[target],
      baselineOutput,
      convergenceDelta: total - (prediction[target] - baselineOutput),
    });
  }
  return result;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof DenseTensor);
}

/** Handles the :explain route once the model is resolved; `resolve` must not be awaited before reading the body. */
export async function handleExplain(
  req: IncomingMessage,
  res: ServerResponse,
  resolve: () => Promise<ServedModel>,
  limits: { maxBodyBytes?: number; maxInstances: number },
): Promise<void> {
  // Counted from arrival (before the body is read), so slow uploads count too.
  if (explainsInProgress >= MAX_CONCURRENT_EXPLAINS) {
    throw new HttpError(
      503,
      `the server is busy: ${MAX_CONCURRENT_EXPLAINS} explain requests are in progress; retry in a second`,
      { 'retry-after': '1' },
    );
  }
  explainsInProgress++;
  try {
    await explainRequest(req, res, resolve, limits);
  } finally {
    explainsInProgress--;
  }
}

async function explainRequest(
  req: IncomingMessage,
  res: ServerResponse,
  resolve: () => Promise<ServedModel>,
  limits: { maxBodyBytes?: number; maxInstances: number },
): Promise<void> {
  const bytes = await readBodyBytes(req, limits.maxBodyBytes ?? DEFAULT_MAX_BODY);
  let body: unknown;
  try {
    body = parseJsonTensors(bytes, { maxDepth: MAX_BODY_DEPTH });
  } catch (e) {
    if (e instanceof JsonBodyError) throw new HttpError(400, e.message);
    throw e;
  }
  if (!isObject(body))
    throw new HttpError(
      400,
      'request body: expected an object like {"instances": [...], "method": "integrated_gradients", "steps": 32}',
    );
  const { method, steps, targets, ...inputs } = body;
  // Numeric arrays arrive as float32 tensors from the fast parser: targets back to plain numbers.
  const targetList =
    targets instanceof DenseTensor
      ? targets.shape.length === 1
        ? Array.from(targets.values)
        : 'not a list of class indices'
      : targets;
  const options = ExplainOptions.safeParse({ method, steps, targets: targetList });
  if (!options.success)
    throw new HttpError(400, options.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const m = await resolve();
  let x: Float32Array;
  let n: number;
  try {
    const request = parseTfServingBody(inputs, m.inputName);
    n = batchSize(request.items);
    if (n > limits.maxInstances)
      throw new HttpError(
        413,
        `the request has ${n} instances; the limit is ${limits.maxInstances} per request, so split it`,
      );
    x = flattenBatch(request.items, m.inputShape, itemLabel(request));
  } catch (e) {
    if (e instanceof InputError) throw new HttpError(400, e.message);
    throw e;
  }
  const o = options.data;
  const evaluations = n * (o.method === 'integrated_gradients' ? o.steps : 1);
  if (evaluations > MAX_EXPLAIN_EVALUATIONS) {
    throw new HttpError(
      400,
      `${n} instances x ${o.method === 'integrated_gradients' ? `${o.steps} steps` : '1 gradient'} = ${evaluations} gradient evaluations; the limit is ${MAX_EXPLAIN_EVALUATIONS} per request, so send fewer instances or steps`,
    );
  }
  if (o.targets && o.targets.length !== n)
    throw new HttpError(400, `targets has ${o.targets.length} entries for ${n} instances`);
  const bad = o.targets?.findIndex((t) => t >= m.outputSize) ?? -1;
  if (bad >= 0)
    throw new HttpError(400, `targets[${bad}] is ${o.targets![bad]}; the model has classes 0..${m.outputSize - 1}`);
  const explanations = await explain(m, x, n, o.method, o.steps, o.targets);
  sendJson(res, 200, {
    model_version: m.version,
    method: o.method,
    ...(o.method === 'integrated_gradients' ? { steps: o.steps, baseline: 'zeros' } : {}),
    explanations: explanations.map((e) => ({
      target: e.target,
      output: e.output,
      prediction: Array.from(e.prediction),
      attributions: nested(e.attributions, m.inputShape),
      ...(e.baselineOutput !== undefined
        ? { baseline_output: e.baselineOutput, convergence_delta: e.convergenceDelta }
        : {}),
    })),
  });
}

type NestedNumbers = number | NestedNumbers[];

/** One instance's attributions (flat, row-major) nested to the input's shape, as :predict's inputs are. */
function nested(flat: Float32Array, shape: readonly number[], offset = 0, depth = 0): NestedNumbers {
  if (depth === shape.length) return float32ToJson(flat[offset]);
  const stride = shape.slice(depth + 1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[depth] }, (_, i) => nested(flat, shape, offset + i * stride, depth + 1));
}
