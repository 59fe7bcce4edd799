import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleExplain } from './explain.js';
import { HttpError, readBodyBytes, sendBytes, sendFailure, sendJson } from './http-io.js';
import { JsonBodyError, parseJsonTensors } from './json-tensors.js';
import type { ModelRegistry } from './model-registry.js';
import { itemLabel, parseSeedBody, parseTfServingBody, predictResponse, type PredictRequest } from './predict-request.js';
import type { ServedModel } from './served-model.js';
import { batchSize, flattenBatch, InputError, unflattenBatch, writeInstance } from './tensor-json.js';

export interface ServingContext {
  registry: ModelRegistry;
  /** The model name in /v1/models/<name>/...; default 'mnist'. */
  modelName?: string;
  /** Largest accepted request body; default 8 MiB. */
  maxBodyBytes?: number;
  /** Most instances in one predict request; more are refused with 413. Default 1024. */
  maxInstances?: number;
  /** Most predict requests in progress at once (reading, parsing or predicting); more get 503 with Retry-After. Default 8. */
  maxConcurrentPredictions?: number;
  /** Receives unexpected (500) errors; default console.error. */
  log?: (line: string) => void;
}

const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
export const DEFAULT_MAX_INSTANCES = 1024;
export const DEFAULT_MAX_CONCURRENT_PREDICTIONS = 8;
/** Deepest nesting of a predict body: a rank-8 tensor inside {"instances": [{"<input>": ...}]} needs 11. */
export const MAX_BODY_DEPTH = 64;

/** Predict requests in progress, per serving context (one per server). */
const predictionsInProgress = new WeakMap<ServingContext, number>();
const IMMUTABLE = { 'cache-control': 'public, max-age=31536000, immutable' };

type Route =
  | { kind: 'status'; model: string; version: number | null }
  | { kind: 'metadata'; model: string; version: number | null }
  | { kind: 'predict'; model: string; version: number | null }
  | { kind: 'explain'; model: string; version: number | null }
  | { kind: 'modelJson'; model: string; version: number | null }
  | { kind: 'weights'; model: string; version: number }
  | { kind: 'seedPredict' }
  | { kind: 'unknown'; path: string };

const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?(:[^/]*|\/[^/]+)?$/;

function parseVersion(text: string): number {
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new HttpError(400, `version must be a non-negative integer, got '${text}'`);
  }
  return Number(text);
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `malformed URL segment '${text}'`);
  }
}

/** null when the path is not a serving path at all; throws HttpError(400) for a malformed version. */
function matchRoute(pathname: string): Route | null {
  if (pathname === '/predict') return { kind: 'seedPredict' };
  if (!pathname.startsWith('/v1/models/')) return null;
  const m = MODEL_PATH.exec(pathname);
  if (!m) return { kind: 'unknown', path: pathname };
  const model = decodeSegment(m[1]);
  const version = m[2] === undefined ? null : parseVersion(m[2]);
  switch (m[3]) {
    case undefined:
      return { kind: 'status', model, version };
    case ':predict':
      return { kind: 'predict', model, version };
    case ':explain':
      return { kind: 'explain', model, version };
    case '/metadata':
      return { kind: 'metadata', model, version };
    case '/model.json':
      return { kind: 'modelJson', model, version };
    case '/weights.bin':
      return version === null ? { kind: 'unknown', path: pathname } : { kind: 'weights', model, version };
    default:
      return { kind: 'unknown', path: pathname };
  }
}

function requireMethod(req: IncomingMessage, method: 'GET' | 'POST'): void {
  if (req.method !== method) {
    throw new HttpError(405, `${req.method} is not allowed here; use ${method}`, { allow: method });
  }
}

function checkName(route: { model: string }, name: string): void {
  if (route.model !== name) throw new HttpError(404, `model '${route.model}' not found; this server serves '${name}'`);
}

const noVersionYet = (name: string) => new HttpError(503, `model '${name}' has no published version yet`);

async function resolveModel(ctx: ServingContext, name: string, version: number | null): Promise<ServedModel> {
  if (version === null) {
    const current = ctx.registry.current();
    if (!current) throw noVersionYet(name);
    return current;
  }
  const served = await ctx.registry.get(version);
  if (!served) throw new HttpError(404, `model '${name}' has no version ${version}`);
  return served;
}

function versionStatus(version: number) {
  return { version: String(version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } };
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
    fedserve: { version: m.version, round: m.round, input_shape: m.inputShape, output_shape: m.outputShape, parameters: m.parameterCount },
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

/** Parses a predict body: numeric arrays straight into float32, nesting bounded (see json-tensors.ts). */
async function readPredictBody(req: IncomingMessage, ctx: ServingContext): Promise<unknown> {
  const bytes = await readBodyBytes(req, ctx.maxBodyBytes ?? DEFAULT_MAX_BODY);
  try {
    return parseJsonTensors(bytes, { maxDepth: MAX_BODY_DEPTH });
  } catch (e) {
    if (e instanceof JsonBodyError) throw new HttpError(400, e.message);
    throw e;
  }
}

async function predict(req: IncomingMessage, res: ServerResponse, ctx: ServingContext, name: string, version: number | null, seed: boolean): Promise<void> {
  requireMethod(req, 'POST');
  const limit = ctx.maxConcurrentPredictions ?? DEFAULT_MAX_CONCURRENT_PREDICTIONS;
  const inProgress = predictionsInProgress.get(ctx) ?? 0;
  if (inProgress >= limit) {
    throw new HttpError(503, `the server is busy: ${limit} predict requests are in progress; retry in a second`, { 'retry-after': '1' });
  }
  predictionsInProgress.set(ctx, inProgress + 1);
  try {
    const body = await readPredictBody(req, ctx);
    // Nothing is awaited between resolving the model and calling predict (see ServedModel).
    const m = await resolveModel(ctx, name, version);
    let request: PredictRequest;
    let x: Float32Array;
    try {
      request = seed ? parseSeedBody(body, m.featureSize) : parseTfServingBody(body, m.inputName);
      const n = batchSize(request.items);
      const maxInstances = ctx.maxInstances ?? DEFAULT_MAX_INSTANCES;
      if (n > maxInstances) throw new HttpError(413, `the request has ${n} instances; the limit is ${maxInstances} per request, so split it`);
      x = flattenRequest(request, m);
    } catch (e) {
      if (e instanceof InputError) throw new HttpError(400, e.message);
      throw e;
    }
    const n = batchSize(request.items);
    const y = await m.predict(x, n);
    sendJson(res, 200, predictResponse(request, unflattenBatch(y, n, m.outputShape)));
  } finally {
    predictionsInProgress.set(ctx, (predictionsInProgress.get(ctx) ?? 1) - 1);
  }
}

async function dispatch(route: Route, req: IncomingMessage, res: ServerResponse, ctx: ServingContext, name: string): Promise<void> {
  switch (route.kind) {
    case 'seedPredict':
      return predict(req, res, ctx, name, null, true);
    case 'unknown':
      throw new HttpError(404, `no such endpoint: ${route.path}`);
    case 'predict':
      checkName(route, name);
      return predict(req, res, ctx, name, route.version, false);
    case 'explain':
      requireMethod(req, 'POST');
      checkName(route, name);
      return handleExplain(req, res, () => resolveModel(ctx, name, route.version), { maxInstances: ctx.maxInstances ?? DEFAULT_MAX_INSTANCES, ...(ctx.maxBodyBytes ? { maxBodyBytes: ctx.maxBodyBytes } : {}) });
    case 'status': {
      requireMethod(req, 'GET');
      checkName(route, name);
      if (route.version !== null) {
        await resolveModel(ctx, name, route.version);
        return sendJson(res, 200, { model_version_status: [versionStatus(route.version)] });
      }
      if (!ctx.registry.current()) throw noVersionYet(name);
      const versions = (await ctx.registry.versions()).reverse();
      return sendJson(res, 200, { model_version_status: versions.map(versionStatus) });
    }
    case 'metadata': {
      requireMethod(req, 'GET');
      checkName(route, name);
      return sendJson(res, 200, metadataBody(name, await resolveModel(ctx, name, route.version)));
    }
    case 'modelJson': {
      requireMethod(req, 'GET');
      checkName(route, name);
      const m = await resolveModel(ctx, name, route.version);
      // The unversioned model.json pins its weights to this version, so a commit landing between
      // the two fetches cannot mix versions.
      return route.version === null
        ? sendJson(res, 200, m.modelJson(`versions/${m.version}/weights.bin`), { 'cache-control': 'no-cache' })
        : sendJson(res, 200, m.modelJson('weights.bin'), IMMUTABLE);
    }
    case 'weights': {
      requireMethod(req, 'GET');
      checkName(route, name);
      return sendBytes(res, (await resolveModel(ctx, name, route.version)).weightBytes(), IMMUTABLE);
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
    sendFailure(res, e, `serving ${req.method} ${pathname}`, ctx.log ?? console.error);
  }
  return true;
}
