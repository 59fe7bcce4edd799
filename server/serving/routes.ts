import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { requireAdmin } from '../auth.js';
import type { Logger } from '../logger.js';
import { handleExplain } from './explain.js';
import { HttpError, readBodyBytes, readJsonBody, sendBytes, sendFailure, sendJson, sendJsonBytes } from './http-io.js';
import { JsonBodyError, parseJsonTensors } from './json-tensors.js';
import type { ServingOverrides } from './serving-overrides.js';
import {
  LABEL_PATTERN,
  LabelError,
  PolicyError,
  type ModelRegistry,
  type VersionPolicy,
  type VersionStatus,
} from './model-registry.js';
import { VersionPolicySchema } from './version-policy.js';
import { itemLabel, parseSeedBody, parseTfServingBody, responseKey, type PredictRequest } from './predict-request.js';
import { BatchingPredictor, QueueFullError, type Predictor } from './predictor.js';
import type { ServedModel } from './served-model.js';
import type { ServingMetrics } from './serving-metrics.js';
import { DEFAULT_BATCHING } from './batch-scheduler.js';
import { float32Body, parseShape } from './binary-inputs.js';
import { writeOutputsJson } from './json-writer.js';
import { batchSize, flattenBatch, InputError, writeInstance } from './tensor-json.js';

export interface ServingContext {
  registry: ModelRegistry;
  /** The model name in /v1/models/<name>/...; default 'mnist'. */
  modelName?: string;
  /** Largest accepted request body; default 8 MiB. */
  maxBodyBytes?: number;
  /** Most instances in one predict request; more are refused with 413. Default 1024. */
  maxInstances?: number;
  /**
   * Most predict requests being read and parsed at once; more get 503 with Retry-After. Once parsed,
   * a request waits in the predictor's batch queue, which has its own bound. Default 64.
   */
  maxConcurrentPredictions?: number;
  /** Runs the forward passes; default a BatchingPredictor with DEFAULT_BATCHING, one per context. */
  predictor?: Predictor;
  /** Receives the latency of answered predict requests. */
  metrics?: ServingMetrics;
  /** Bearer token that may set version labels; without one, labels cannot be set over REST. */
  adminToken?: string;
  /** Where label and policy changes made over REST are kept across restarts; without it they last until the process ends. */
  overrides?: ServingOverrides;
  /** Where unexpected (500) errors are logged. */
  logger: Logger;
}

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
export const DEFAULT_MAX_INSTANCES = 1024;
export const DEFAULT_MAX_CONCURRENT_PREDICTIONS = 64;
/** Deepest nesting of a predict body: a rank-8 tensor inside {"instances": [{"<input>": ...}]} needs 11. */
export const MAX_BODY_DEPTH = 64;

/** Predict requests being read or parsed, per serving context (one per server). */
const predictionsInProgress = new WeakMap<ServingContext, number>();
/** The default predictor of a context that brings none. */
const defaultPredictors = new WeakMap<ServingContext, Predictor>();

function predictorOf(ctx: ServingContext): Predictor {
  if (ctx.predictor) return ctx.predictor;
  let p = defaultPredictors.get(ctx);
  if (!p) {
    p = new BatchingPredictor(DEFAULT_BATCHING);
    defaultPredictors.set(ctx, p);
  }
  return p;
}
const IMMUTABLE = { 'cache-control': 'public, max-age=31536000, immutable' };

/** Which version a request means: the current one (null), a number, or a label. */
type VersionRef = number | { label: string } | null;

type Route =
  | { kind: 'status'; model: string; ref: VersionRef }
  | { kind: 'metadata'; model: string; ref: VersionRef }
  | { kind: 'predict'; model: string; ref: VersionRef }
  | { kind: 'explain'; model: string; ref: VersionRef }
  | { kind: 'modelJson'; model: string; version: number | null }
  | { kind: 'weights'; model: string; version: number }
  | { kind: 'labels'; model: string }
  | { kind: 'policy'; model: string }
  | { kind: 'seedPredict' }
  | { kind: 'unknown'; path: string };

const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/(versions|labels)\/([^/:]+))?(:[^/]*|\/[^/]+)?$/;

function parseVersion(text: string): number {
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new HttpError(400, `version must be a non-negative integer, got '${text}'`);
  }
  return Number(text);
}

function parseLabel(text: string): { label: string } {
  if (!LABEL_PATTERN.test(text))
    throw new HttpError(400, `a version label is a-z, then up to 63 of a-z, 0-9, _ and -; got '${text}'`);
  return { label: text };
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `malformed URL segment '${text}'`);
  }
}

/** null when the path is not a serving path at all; throws HttpError(400) for a malformed version or label. */
function matchRoute(pathname: string): Route | null {
  if (pathname === '/predict') return { kind: 'seedPredict' };
  if (!pathname.startsWith('/v1/models/')) return null;
  const m = MODEL_PATH.exec(pathname);
  if (!m) return { kind: 'unknown', path: pathname };
  const model = decodeSegment(m[1]);
  const ref: VersionRef =
    m[2] === undefined ? null : m[2] === 'versions' ? parseVersion(m[3]) : parseLabel(decodeSegment(m[3]));
  switch (m[4]) {
    case undefined:
      return { kind: 'status', model, ref };
    case ':predict':
      return { kind: 'predict', model, ref };
    case ':explain':
      return { kind: 'explain', model, ref };
    case '/metadata':
      return { kind: 'metadata', model, ref };
    case '/labels':
      return ref === null ? { kind: 'labels', model } : { kind: 'unknown', path: pathname };
    case '/version-policy':
      return ref === null ? { kind: 'policy', model } : { kind: 'unknown', path: pathname };
    case '/model.json':
      return typeof ref === 'object' && ref !== null
        ? { kind: 'unknown', path: pathname }
        : { kind: 'modelJson', model, version: ref };
    case '/weights.bin':
      return typeof ref === 'number' ? { kind: 'weights', model, version: ref } : { kind: 'unknown', path: pathname };
    default:
      return { kind: 'unknown', path: pathname };
  }
}

function requireMethod(req: IncomingMessage, ...methods: ('GET' | 'POST' | 'PUT' | 'DELETE')[]): void {
  if (!methods.includes(req.method as 'GET')) {
    throw new HttpError(405, `${req.method} is not allowed here; use ${methods.join(' or ')}`, {
      allow: methods.join(', '),
    });
  }
}

function checkName(route: { model: string }, name: string): void {
  if (route.model !== name) throw new HttpError(404, `model '${route.model}' not found; this server serves '${name}'`);
}

const noVersionYet = (name: string) => new HttpError(503, `model '${name}' has no published version yet`);

/** The version number a request means; throws 404 for an unknown label, 503 before the first publish. */
function versionOf(ctx: ServingContext, name: string, ref: VersionRef): number {
  if (ref === null) {
    const current = ctx.registry.current();
    if (!current) throw noVersionYet(name);
    return current.version;
  }
  if (typeof ref === 'number') return ref;
  const version = ctx.registry.labelVersion(ref.label);
  if (version === undefined) throw new HttpError(404, `model '${name}' has no version labeled '${ref.label}'`);
  return version;
}

async function resolveModel(ctx: ServingContext, name: string, ref: VersionRef): Promise<ServedModel> {
  if (ref === null) {
    const current = ctx.registry.current();
    if (!current) throw noVersionYet(name);
    return current;
  }
  const version = versionOf(ctx, name, ref);
  const served = await ctx.registry.get(version);
  if (served) return served;
  if ((await ctx.registry.versions()).includes(version)) {
    throw new HttpError(404, `model '${name}' version ${version} is not served: ${ctx.registry.describePolicy()}`);
  }
  throw new HttpError(404, `model '${name}' has no version ${version}`);
}

/** TF Serving's GetModelStatus entry. */
function versionStatus(s: VersionStatus) {
  return {
    version: String(s.version),
    state: s.state,
    status: { error_code: s.error === undefined ? 'OK' : 'UNKNOWN', error_message: s.error ?? '' },
  };
}

const LabelBody = z.strictObject({ version: z.int().min(0) });

/** GET: the labeled version's status; PUT {"version": N} (admin): point the label at N; DELETE (admin): remove it. */
async function label(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServingContext,
  name: string,
  label: string,
): Promise<void> {
  requireMethod(req, 'GET', 'PUT', 'DELETE');
  if (req.method === 'GET') return status(res, ctx, name, { label });
  if (ctx.adminToken === undefined)
    throw new HttpError(403, 'version labels are set with the admin token, and this server has none');
  requireAdmin(req, ctx.adminToken);
  const previous = ctx.registry.labelVersion(label);
  if (req.method === 'DELETE') {
    if (!(await ctx.registry.removeLabel(label)))
      throw new HttpError(404, `model '${name}' has no version labeled '${label}'`);
    await keepOrUndo(ctx, label, previous, (o) => o.removeLabel(label));
    sendJson(res, 200, { labels: ctx.registry.allLabels() });
    return;
  }
  const parsed = LabelBody.safeParse(await readJsonBody(req, 1024));
  if (!parsed.success)
    throw new HttpError(
      400,
      `invalid body: expected {"version": <non-negative integer>} (${parsed.error.issues.map((i) => i.message).join('; ')})`,
    );
  const { version } = parsed.data;
  try {
    await ctx.registry.setLabel(label, version);
  } catch (e) {
    if (e instanceof LabelError) throw new HttpError(404, e.message);
    throw e;
  }
  await keepOrUndo(ctx, label, previous, (o) => o.setLabel(label, version));
  sendJson(res, 200, { labels: ctx.registry.allLabels() });
}

/**
 * Writes a label change to the overrides file; when that fails, puts the label back where it was
 * (`previous`, or nowhere) so what is served never differs from what a restart would serve.
 */
async function keepOrUndo(
  ctx: ServingContext,
  label: string,
  previous: number | undefined,
  record: (overrides: ServingOverrides) => void,
): Promise<void> {
  if (!ctx.overrides) return;
  try {
    record(ctx.overrides);
  } catch (e) {
    if (previous === undefined) await ctx.registry.removeLabel(label);
    else await ctx.registry.setLabel(label, previous);
    throw new Error(`could not save the change of label '${label}', so it was undone: ${(e as Error).message}`);
  }
}

/** GET the version policy; PUT a new one with the admin token, kept across restarts like labels. */
async function versionPolicy(req: IncomingMessage, res: ServerResponse, ctx: ServingContext): Promise<void> {
  requireMethod(req, 'GET', 'PUT');
  if (req.method === 'GET') {
    sendJson(res, 200, { policy: ctx.registry.versionPolicy() });
    return;
  }
  if (ctx.adminToken === undefined)
    throw new HttpError(403, 'the version policy is set with the admin token, and this server has none');
  requireAdmin(req, ctx.adminToken);
  const parsed = VersionPolicySchema.safeParse(await readJsonBody(req, 64 * 1024));
  if (!parsed.success)
    throw new HttpError(
      400,
      `invalid body: expected {"kind":"all"}, {"kind":"latest","count":N} or {"kind":"specific","versions":[...]} (${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`,
    );
  const previous = ctx.registry.versionPolicy();
  const policy: VersionPolicy = parsed.data;
  try {
    await ctx.registry.setPolicy(policy);
  } catch (e) {
    if (e instanceof PolicyError) throw new HttpError(404, e.message);
    throw e;
  }
  if (ctx.overrides) {
    try {
      ctx.overrides.setPolicy(policy);
    } catch (e) {
      await ctx.registry.setPolicy(previous);
      throw new Error(`could not save the version policy, so it was undone: ${(e as Error).message}`);
    }
  }
  sendJson(res, 200, { policy: ctx.registry.versionPolicy() });
}

async function status(res: ServerResponse, ctx: ServingContext, name: string, ref: VersionRef): Promise<void> {
  if (!ctx.registry.current()) throw noVersionYet(name);
  const all = await ctx.registry.status();
  if (ref === null) {
    sendJson(res, 200, { model_version_status: all.map(versionStatus) });
    return;
  }
  const version = versionOf(ctx, name, ref);
  const one = all.find((s) => s.version === version);
  if (!one) throw new HttpError(404, `model '${name}' has no version ${version}`);
  sendJson(res, 200, { model_version_status: [versionStatus(one)] });
}

function tensorInfo(name: string, shape: number[]) {
  return {
    dtype: 'DT_FLOAT',
    tensor_shape: { dim: [-1, ...shape].map((size) => ({ size: String(size), name: '' })), unknown_rank: false },
    name,
  };
}

/** TF Serving's GetModelMetadata response, plus a `fedserve` block with the training round. */
function metadataBody(name: string, m: ServedModel) {
  return {
    model_spec: { name, signature_name: '', version: String(m.version) },
    metadata: {
      signature_def: {
        signature_def: {
          serving_default: {
            inputs: { [m.inputName]: tensorInfo(m.inputName, m.inputShape) },
            outputs: { [m.outputName]: tensorInfo(m.outputName, m.outputShape) },
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
    fedserve: {
      version: m.version,
      round: m.round,
      input_shape: m.inputShape,
      output_shape: m.outputShape,
      parameters: m.parameterCount,
    },
  };
}

function flattenRequest(req: PredictRequest, m: ServedModel): Float32Array {
  if (req.format === 'seed' && req.single) {
    const out = new Float32Array(m.featureSize);
    writeInstance(req.items[0], m.inputShape, 'x_input', out, 0);
    return out;
  }
  return flattenBatch(req.items, m.inputShape, itemLabel(req));
}

/** A predict body: numeric arrays straight into float32, nesting bounded (see json-tensors.ts). */
function parsePredictJson(bytes: Buffer): unknown {
  try {
    return parseJsonTensors(bytes, { maxDepth: MAX_BODY_DEPTH });
  } catch (e) {
    if (e instanceof JsonBodyError) throw new HttpError(400, e.message);
    throw e;
  }
}

function isOctetStream(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/octet-stream';
}

/** The shape of a raw float32 body, from the x-tensor-shape header or the shape query parameter. */
function requestShape(req: IncomingMessage): number[] | undefined {
  const header = req.headers['x-tensor-shape'];
  if (typeof header === 'string') return parseShape(header, 'the x-tensor-shape header');
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('shape');
  return query === null ? undefined : parseShape(query, 'the shape query parameter');
}

/** How the outputs go back: JSON under a key (one instance bare for the seed's single x_input), or raw float32. */
type Answer = { kind: 'json'; key: string; single: boolean } | { kind: 'float32' };

interface ParsedPredict {
  model: ServedModel;
  x: Float32Array;
  n: number;
  answer: Answer;
}

function wantsFloat32(req: IncomingMessage): boolean {
  return (req.headers.accept ?? '').toLowerCase().includes('application/octet-stream');
}

/** Reads and parses a predict request, holding a concurrency slot only while doing so; errors are HttpErrors. */
async function readPredictRequest(
  req: IncomingMessage,
  ctx: ServingContext,
  name: string,
  ref: VersionRef,
  seed: boolean,
): Promise<ParsedPredict> {
  const limit = ctx.maxConcurrentPredictions ?? DEFAULT_MAX_CONCURRENT_PREDICTIONS;
  const inProgress = predictionsInProgress.get(ctx) ?? 0;
  if (inProgress >= limit) {
    throw new HttpError(503, `the server is busy: ${limit} predict requests are in progress; retry in a second`, {
      'retry-after': '1',
    });
  }
  predictionsInProgress.set(ctx, inProgress + 1);
  try {
    const binary = !seed && isOctetStream(req);
    const bytes = await readBodyBytes(req, ctx.maxBodyBytes ?? DEFAULT_MAX_BODY, binary ? 'binary' : 'json');
    const body = binary ? bytes : parsePredictJson(bytes);
    const model = await resolveModel(ctx, name, ref);
    try {
      let parsed: ParsedPredict;
      if (binary) {
        const { x, n } = float32Body(bytes, model.inputShape, requestShape(req));
        checkInstances(ctx, n);
        parsed = { model, x, n, answer: { kind: 'json', key: 'predictions', single: false } };
      } else {
        const request = seed ? parseSeedBody(body, model.featureSize) : parseTfServingBody(body, model.inputName);
        const n = batchSize(request.items);
        checkInstances(ctx, n);
        parsed = { model, x: flattenRequest(request, model), n, answer: { kind: 'json', ...responseKey(request) } };
      }
      if (!seed && wantsFloat32(req)) parsed.answer = { kind: 'float32' };
      return parsed;
    } catch (e) {
      if (e instanceof InputError) throw new HttpError(400, e.message);
      throw e;
    }
  } finally {
    predictionsInProgress.set(ctx, (predictionsInProgress.get(ctx) ?? 1) - 1);
  }
}

function checkInstances(ctx: ServingContext, n: number): void {
  const maxInstances = ctx.maxInstances ?? DEFAULT_MAX_INSTANCES;
  if (n > maxInstances)
    throw new HttpError(413, `the request has ${n} instances; the limit is ${maxInstances} per request, so split it`);
}

async function predict(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServingContext,
  name: string,
  ref: VersionRef,
  seed: boolean,
): Promise<void> {
  requireMethod(req, 'POST');
  const arrived = performance.now();
  // Nothing is awaited between resolving the model and handing it to the predictor (see ServedModel).
  const { model, x, n, answer } = await readPredictRequest(req, ctx, name, ref, seed);
  let y: Float32Array;
  try {
    y = await predictorOf(ctx).predict(model, x, n);
  } catch (e) {
    if (e instanceof QueueFullError)
      throw new HttpError(503, `${e.message}; retry in a second`, { 'retry-after': '1' });
    throw e;
  }
  switch (answer.kind) {
    case 'json':
      sendJsonBytes(res, 200, writeOutputsJson(answer.key, y, n, model.outputShape, answer.single));
      break;
    case 'float32':
      sendBytes(res, new Uint8Array(y.buffer, y.byteOffset, y.byteLength), {
        'x-tensor-shape': [n, ...model.outputShape].join(','),
      });
      break;
    default: {
      const never: never = answer;
      throw new Error(`unknown answer ${JSON.stringify(never)}`);
    }
  }
  ctx.metrics?.observeRequest(model.version, (performance.now() - arrived) / 1000);
}

async function dispatch(
  route: Route,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServingContext,
  name: string,
): Promise<void> {
  switch (route.kind) {
    case 'seedPredict':
      return predict(req, res, ctx, name, null, true);
    case 'unknown':
      throw new HttpError(404, `no such endpoint: ${route.path}`);
    case 'predict':
      checkName(route, name);
      return predict(req, res, ctx, name, route.ref, false);
    case 'explain':
      requireMethod(req, 'POST');
      checkName(route, name);
      return handleExplain(req, res, () => resolveModel(ctx, name, route.ref), {
        maxInstances: ctx.maxInstances ?? DEFAULT_MAX_INSTANCES,
        ...(ctx.maxBodyBytes ? { maxBodyBytes: ctx.maxBodyBytes } : {}),
      });
    case 'status':
      checkName(route, name);
      if (typeof route.ref === 'object' && route.ref !== null) return label(req, res, ctx, name, route.ref.label);
      requireMethod(req, 'GET');
      return status(res, ctx, name, route.ref);
    case 'labels':
      requireMethod(req, 'GET');
      checkName(route, name);
      {
        sendJson(res, 200, { labels: ctx.registry.allLabels() });
        return;
      }
    case 'policy':
      checkName(route, name);
      return versionPolicy(req, res, ctx);
    case 'metadata': {
      requireMethod(req, 'GET');
      checkName(route, name);
      sendJson(res, 200, metadataBody(name, await resolveModel(ctx, name, route.ref)));
      return;
    }
    case 'modelJson': {
      requireMethod(req, 'GET');
      checkName(route, name);
      const m = await resolveModel(ctx, name, route.version);
      // The unversioned model.json pins its weights to this version, so a commit landing between
      // the two fetches cannot mix versions.
      if (route.version === null)
        sendJson(res, 200, m.modelJson(`versions/${m.version}/weights.bin`), { 'cache-control': 'no-cache' });
      else sendJson(res, 200, m.modelJson('weights.bin'), IMMUTABLE);
      return;
    }
    case 'weights': {
      requireMethod(req, 'GET');
      checkName(route, name);
      sendBytes(res, (await resolveModel(ctx, name, route.version)).weightBytes(), IMMUTABLE);
      return;
    }
    default: {
      const never: never = route;
      throw new Error(`unhandled route ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Serves the TensorFlow Serving-compatible REST API, the seed's POST /predict and the tfjs model
 * files. Resolves true when the request was a serving route (and has been answered, errors
 * included), false when it is someone else's. Never rejects.
 */
export async function handleServing(req: IncomingMessage, res: ServerResponse, ctx: ServingContext): Promise<boolean> {
  const name = ctx.modelName ?? 'mnist';
  const pathname = (req.url ?? '/').split('?')[0];
  try {
    const route = matchRoute(pathname);
    if (!route) return false;
    await dispatch(route, req, res, ctx, name);
  } catch (e) {
    sendFailure(res, e, `serving ${req.method} ${pathname}`, ctx.logger);
  }
  return true;
}
