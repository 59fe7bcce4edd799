import { isB64, writeB64Instance } from './binary-inputs.js';
import { DenseTensor } from './json-tensors.js';

/**
 * JSON <-> flat float32 for the predict endpoints. An instance may be nested any way whose
 * flattened size matches the model's input (784, 28x28, 28x28x1 for MNIST), as long as the
 * nesting is rectangular; errors name the exact element that is wrong.
 */
export class InputError extends Error {
  override name = 'InputError';
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The shape implied by following first elements down; the walk in writeInstance checks the rest. */
export function leadingShape(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  for (;;) {
    if (v instanceof DenseTensor) return [...shape, ...v.shape];
    if (!Array.isArray(v)) return shape;
    shape.push(v.length);
    if (v.length === 0) return shape;
    v = v[0];
  }
}

function kindOf(value: unknown): string {
  if (Array.isArray(value) || value instanceof DenseTensor) return 'an array';
  return value === null ? 'null' : typeof value;
}

/** Why a tensor of `got` shape stands where siblings have `want`, naming the first element that differs. */
function shapeMismatch(label: string, got: readonly number[], want: readonly number[]): string {
  let d = 0;
  while (d < got.length && d < want.length && got[d] === want[d]) d++;
  const at = label + '[0]'.repeat(d);
  if (d === want.length) return `${at} must be a number, got an array`;
  if (d === got.length) return `${at} must be an array of ${want[d]} like its siblings, got number`;
  return `${at} has ${got[d]} elements, expected ${want[d]} like its siblings (ragged nesting)`;
}

function writeNumber(value: unknown, label: string, out: Float32Array, offset: number): void {
  if (typeof value !== 'number') throw new InputError(`${label} must be a number, got ${kindOf(value)}`);
  if (!Number.isFinite(value)) throw new InputError(`${label} is ${value}; inputs must be finite`);
  const f = Math.fround(value);
  if (!Number.isFinite(f))
    throw new InputError(
      `${label} is ${value}, which is not finite as float32 (the largest float32 is 3.4028235e38); inputs must be finite`,
    );
  out[offset] = f;
}

/**
 * Writes `value` (of the given full shape) at `offset`, walking nested arrays with an explicit
 * stack so that no nesting depth can overflow the call stack.
 */
function writeNested(value: unknown, shape: readonly number[], label: string, out: Float32Array, offset: number): void {
  let off = offset;
  const place = (
    v: unknown,
    depth: number,
    at: string,
  ): { array: unknown[]; depth: number; label: string; i: number } | undefined => {
    if (depth === shape.length) {
      writeNumber(v, at, out, off++);
      return undefined;
    }
    if (v instanceof DenseTensor) {
      const want = shape.slice(depth);
      if (v.size !== size(want) || v.shape.some((d, i) => d !== want[i]) || v.shape.length !== want.length) {
        throw new InputError(shapeMismatch(at, v.shape, want));
      }
      out.set(v.values, off);
      off += v.size;
      return undefined;
    }
    if (!Array.isArray(v)) {
      throw new InputError(
        `${at} must be an array of ${shape[depth]} like its siblings, got ${v === null ? 'null' : typeof v}`,
      );
    }
    if (v.length !== shape[depth]) {
      throw new InputError(
        `${at} has ${v.length} elements, expected ${shape[depth]} like its siblings (ragged nesting)`,
      );
    }
    return { array: v, depth, label: at, i: 0 };
  };
  const first = place(value, 0, label);
  const stack = first ? [first] : [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.i === top.array.length) {
      stack.pop();
      continue;
    }
    const i = top.i++;
    const next = place(top.array[i], top.depth + 1, `${top.label}[${i}]`);
    if (next) stack.push(next);
  }
}

/** Writes one instance into `out` at instance slot `index`; throws InputError naming `label`. */
export function writeInstance(
  value: unknown,
  inputShape: readonly number[],
  label: string,
  out: Float32Array,
  index: number,
): void {
  const featureSize = size(inputShape);
  if (isB64(value)) {
    writeB64Instance(value, featureSize, label, out, index);
    return;
  }
  const shape = leadingShape(value);
  if (size(shape) !== featureSize) {
    const kind =
      value === null
        ? 'null'
        : typeof value === 'object' && !(value instanceof DenseTensor)
          ? 'an object'
          : `a ${typeof value}`;
    const got = shape.length === 0 ? `is ${kind}` : `has shape ${shapeText(shape)} (${size(shape)} values)`;
    throw new InputError(
      `${label} ${got}; the model takes ${featureSize} numbers, e.g. shaped ${shapeText(inputShape)}${inputShape.length > 1 ? ` or flat [${featureSize}]` : ''}`,
    );
  }
  writeNested(value, shape, label, out, index * featureSize);
}

/** The number of instances in a batch: a list of instances, or one tensor whose first dimension is the batch. */
export function batchSize(batch: readonly unknown[] | DenseTensor): number {
  return batch instanceof DenseTensor ? batch.shape[0] : batch.length;
}

/**
 * A batch of instances as one flat Float32Array of n * featureSize values. A tensor batch whose
 * instances have the model's size is its own values (no copy).
 */
export function flattenBatch(
  batch: readonly unknown[] | DenseTensor,
  inputShape: readonly number[],
  label: string,
): Float32Array {
  if (batch instanceof DenseTensor) {
    if (batch.shape[0] > 0 && size(batch.shape.slice(1)) !== size(inputShape)) {
      // Every instance has the first one's shape: report it as a list's first instance would be.
      writeInstance(batch.item(0), inputShape, `${label}[0]`, new Float32Array(size(inputShape)), 0);
    }
    return batch.values;
  }
  const out = new Float32Array(batch.length * size(inputShape));
  batch.forEach((item, i) => writeInstance(item, inputShape, `${label}[${i}]`, out, i));
  return out;
}

/** The shortest decimal that reads back as the same float32 (what TF Serving prints). */
export function float32ToJson(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const c = Number(v.toPrecision(p));
    if (Math.fround(c) === v) return c;
  }
  return v;
}
