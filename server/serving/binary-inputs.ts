import { InputError } from './tensor-json.js';

/**
 * Binary predict inputs: TensorFlow Serving's `{"b64": "<base64>"}` in place of an instance, and
 * a raw `application/octet-stream` body. Both carry float32 values in little-endian byte order
 * (TensorProto's tensor_content order; Float32Array views read it as such on the little-endian
 * hosts Node runs on), row-major, decoded straight into the model's input buffer.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `{"b64": ...}`: an object whose only key is b64 (its value is checked when decoded). */
export function isB64(value: unknown): value is { b64: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'b64';
}

function checkFinite(values: Float32Array, label: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new InputError(`${label} value ${i} is ${values[i]}; inputs must be finite`);
  }
}

/** Decodes `{"b64": ...}` (featureSize float32 values) into `out` at instance slot `index`. */
export function writeB64Instance(
  value: { b64: unknown },
  featureSize: number,
  label: string,
  out: Float32Array,
  index: number,
): void {
  const text = value.b64;
  if (typeof text !== 'string')
    throw new InputError(`${label}.b64 must be a base64 string, got ${text === null ? 'null' : typeof text}`);
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new InputError(`${label}.b64 is not standard base64 (A-Z, a-z, 0-9, +, / in groups of 4, = padding)`);
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = (text.length / 4) * 3 - padding;
  if (bytes !== featureSize * 4) {
    const values =
      bytes % 4 === 0 ? `${bytes / 4} float32 values` : `${bytes} bytes, not a whole number of float32 values`;
    throw new InputError(
      `${label}.b64 decodes to ${values}; the model takes ${featureSize} float32 values (${featureSize * 4} bytes, little-endian)`,
    );
  }
  const slot = out.subarray(index * featureSize, (index + 1) * featureSize);
  Buffer.from(slot.buffer, slot.byteOffset, slot.byteLength).write(text, 'base64');
  checkFinite(slot, `${label}.b64`);
}

/** Parses "2,28,28,1" (from the x-tensor-shape header or the shape query parameter). */
export function parseShape(text: string, source: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^[0-9]{1,9}$/.test(p)) || parts.length > 16) {
    throw new InputError(
      `${source} must be comma-separated non-negative integers like 2,28,28,1 (batch first), got '${text}'`,
    );
  }
  return parts.map(Number);
}

/**
 * A raw float32 body: n instances of featureSize values. With a shape (batch first) the body must
 * match it exactly; without, n is the body's size over the instance size.
 */
export function float32Body(
  body: Buffer,
  inputShape: readonly number[],
  shape: number[] | undefined,
): { x: Float32Array; n: number } {
  const featureSize = inputShape.reduce((a, b) => a * b, 1);
  const instanceBytes = featureSize * 4;
  if (body.byteLength % 4 !== 0)
    throw new InputError(
      `the octet-stream body has ${body.byteLength} bytes, not a whole number of float32 values (4 bytes each)`,
    );
  let n: number;
  if (shape) {
    const per = shape.slice(1).reduce((a, b) => a * b, 1);
    if (shape.length < 2 || per !== featureSize) {
      throw new InputError(
        `shape [${shape.join(', ')}] has ${shape.length < 2 ? 'no instance dimensions' : `${per} values per instance`}; the model takes ${featureSize}, e.g. shape n,${inputShape.join(',')}`,
      );
    }
    n = shape[0];
    if (body.byteLength !== n * instanceBytes) {
      throw new InputError(
        `the octet-stream body has ${body.byteLength} bytes; shape [${shape.join(', ')}] needs ${n * instanceBytes} (float32, little-endian)`,
      );
    }
  } else {
    if (body.byteLength % instanceBytes !== 0) {
      throw new InputError(
        `the octet-stream body has ${body.byteLength / 4} float32 values, not a whole number of instances of ${featureSize}; give the shape in x-tensor-shape or ?shape=`,
      );
    }
    n = body.byteLength / instanceBytes;
  }
  if (n === 0) throw new InputError('the octet-stream body holds no instance');
  // A Float32Array view needs 4-byte alignment; small bodies may sit unaligned in Node's buffer pool.
  const x =
    body.byteOffset % 4 === 0
      ? new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4)
      : new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  checkFinite(x, 'the octet-stream body');
  return { x, n };
}
