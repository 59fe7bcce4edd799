/**
 * JSON <-> flat float32 for the predict endpoints. An instance may be nested any way whose
 * flattened size matches the model's input (784, 28x28, 28x28x1 for MNIST), as long as the
 * nesting is rectangular; errors name the exact element that is wrong.
 */
export type NestedNumbers = number | NestedNumbers[];

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
  while (Array.isArray(v) && v.length > 0) {
    shape.push(v.length);
    v = v[0];
  }
  if (Array.isArray(v)) shape.push(0);
  return shape;
}

function writeNested(value: unknown, shape: readonly number[], depth: number, label: string, out: Float32Array, offset: number): number {
  if (depth === shape.length) {
    if (typeof value !== 'number') {
      const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
      throw new InputError(`${label} must be a number, got ${got}`);
    }
    if (!Number.isFinite(value)) throw new InputError(`${label} is ${value}; inputs must be finite`);
    out[offset] = value;
    return offset + 1;
  }
  if (!Array.isArray(value)) {
    throw new InputError(`${label} must be an array of ${shape[depth]} like its siblings, got ${value === null ? 'null' : typeof value}`);
  }
  if (value.length !== shape[depth]) {
    throw new InputError(`${label} has ${value.length} elements, expected ${shape[depth]} like its siblings (ragged nesting)`);
  }
  let off = offset;
  for (let i = 0; i < value.length; i++) off = writeNested(value[i], shape, depth + 1, `${label}[${i}]`, out, off);
  return off;
}

/** Writes one instance into `out` at instance slot `index`; throws InputError naming `label`. */
export function writeInstance(value: unknown, inputShape: readonly number[], label: string, out: Float32Array, index: number): void {
  const featureSize = size(inputShape);
  const shape = leadingShape(value);
  if (size(shape) !== featureSize) {
    const kind = value === null ? 'null' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
    const got = shape.length === 0 ? `is ${kind}` : `has shape ${shapeText(shape)} (${size(shape)} values)`;
    throw new InputError(`${label} ${got}; the model takes ${featureSize} numbers, e.g. shaped ${shapeText(inputShape)}${inputShape.length > 1 ? ` or flat [${featureSize}]` : ''}`);
  }
  writeNested(value, shape, 0, label, out, index * featureSize);
}

/** A batch of instances as one flat Float32Array of items.length * featureSize values. */
export function flattenBatch(items: readonly unknown[], inputShape: readonly number[], label: string): Float32Array {
  const out = new Float32Array(items.length * size(inputShape));
  items.forEach((item, i) => writeInstance(item, inputShape, `${label}[${i}]`, out, i));
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

function nest(flat: Float32Array, offset: number, shape: readonly number[], depth: number): NestedNumbers {
  if (depth === shape.length) return float32ToJson(flat[offset]);
  const stride = size(shape.slice(depth + 1));
  const out: NestedNumbers[] = [];
  for (let i = 0; i < shape[depth]; i++) out.push(nest(flat, offset + i * stride, shape, depth + 1));
  return out;
}

/** Splits n outputs of `shape` (flat, row-major) into one nested JSON value per instance. */
export function unflattenBatch(flat: Float32Array, n: number, shape: readonly number[]): NestedNumbers[] {
  const per = size(shape);
  if (flat.length !== n * per) throw new Error(`output has ${flat.length} values, expected ${n} x ${per}`);
  const rows: NestedNumbers[] = [];
  for (let i = 0; i < n; i++) rows.push(nest(flat, i * per, shape, 0));
  return rows;
}
