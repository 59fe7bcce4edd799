import { z } from 'zod';
import { isB64 } from './binary-inputs.js';
import { DenseTensor } from './json-tensors.js';
import { batchSize, InputError, leadingShape } from './tensor-json.js';

/**
 * A validated predict body: its format decides the response's shape. The batch is a list of
 * instances, or one tensor whose first dimension is the batch (what a rectangular body parses to).
 */
export type Batch = unknown[] | DenseTensor;
export type PredictRequest =
  | { format: 'row'; items: Batch }
  | { format: 'columnar'; items: Batch }
  | { format: 'seed'; items: Batch; single: false }
  | { format: 'seed'; items: [unknown]; single: true };

const TfServingBody = z
  .strictObject({
    signature_name: z
      .literal('serving_default', { error: 'signature_name must be "serving_default" (the only signature)' })
      .optional(),
    instances: z.unknown().optional(),
    inputs: z.unknown().optional(),
  })
  .refine((b) => (b.instances === undefined) !== (b.inputs === undefined), {
    error: 'give exactly one of "instances" (row format) or "inputs" (columnar format)',
  });

const SeedBody = z.strictObject({
  x_input: z.unknown().refine((v) => v !== undefined, { error: 'required: one instance or an array of instances' }),
});

function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'request body'}: ${i.message}`).join('; ');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof DenseTensor);
}

function isBatch(v: unknown): v is Batch {
  return Array.isArray(v) || v instanceof DenseTensor;
}

/** The body must be a JSON object before its fields are looked at. */
function requireObject(body: unknown): void {
  if (!isPlainObject(body))
    throw new InputError(
      `request body: expected object, got ${isBatch(body) ? 'an array' : body === null ? 'null' : typeof body}`,
    );
}

/** TF Serving lets a single-input model's tensor be given bare or as {"<input name>": tensor}. */
function unwrapNamed(value: unknown, inputName: string, label: string): unknown {
  if (!isPlainObject(value) || isB64(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== inputName) {
    throw new InputError(`${label} names inputs [${keys.join(', ')}]; this model has one input, "${inputName}"`);
  }
  return value[inputName];
}

/** `{"instances": [...]}` (row format) or `{"inputs": ...}` (columnar format). */
export function parseTfServingBody(body: unknown, inputName: string): PredictRequest {
  requireObject(body);
  const parsed = TfServingBody.safeParse(body);
  if (!parsed.success) throw new InputError(zodMessage(parsed.error));
  const { instances, inputs } = parsed.data;
  if (instances !== undefined) {
    if (!isBatch(instances) || batchSize(instances) === 0)
      throw new InputError('instances must hold at least one instance');
    const items =
      instances instanceof DenseTensor
        ? instances
        : instances.map((item, i) => unwrapNamed(item, inputName, `instances[${i}]`));
    return { format: 'row', items };
  }
  const batch = unwrapNamed(inputs, inputName, 'inputs');
  if (!isBatch(batch) || batchSize(batch) === 0) {
    throw new InputError('inputs must be a non-empty array with one entry per instance (the batch dimension first)');
  }
  return { format: 'columnar', items: batch };
}

/**
 * The seed's `{"x_input": ...}`: one instance (any nesting of featureSize numbers) or an array of
 * instances (arrays themselves); the response mirrors that choice.
 */
export function parseSeedBody(body: unknown, featureSize: number): PredictRequest {
  requireObject(body);
  const parsed = SeedBody.safeParse(body);
  if (!parsed.success) throw new InputError(zodMessage(parsed.error));
  const x = parsed.data.x_input;
  if (isB64(x)) return { format: 'seed', items: [x], single: true };
  if (!isBatch(x) && typeof x !== 'number') {
    throw new InputError(`x_input must be one instance of ${featureSize} numbers or a non-empty array of instances`);
  }
  const shape = leadingShape(x);
  const single = shape.reduce((a, b) => a * b, 1) === featureSize || shape.length < 2;
  return single || !isBatch(x)
    ? { format: 'seed', items: [x], single: true }
    : { format: 'seed', items: x, single: false };
}

/** The response's key and whether it holds one instance bare (the seed's single x_input) or a list. */
export function responseKey(req: PredictRequest): { key: string; single: boolean } {
  switch (req.format) {
    case 'row':
      return { key: 'predictions', single: false };
    case 'columnar':
      return { key: 'outputs', single: false };
    case 'seed':
      return { key: 'prediction', single: req.single };
    default: {
      const never: never = req;
      throw new Error(`unknown predict format ${String(never)}`);
    }
  }
}

/** Where instance i of a request is, for error messages. */
export function itemLabel(req: PredictRequest): string {
  switch (req.format) {
    case 'row':
      return 'instances';
    case 'columnar':
      return 'inputs';
    case 'seed':
      return 'x_input';
    default: {
      const never: never = req;
      throw new Error(`unknown predict format ${String(never)}`);
    }
  }
}
