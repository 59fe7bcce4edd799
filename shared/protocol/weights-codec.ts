/**
 * The binary wire format of weight vectors: little-endian float32, nothing else. Socket.io carries
 * the bytes as a binary attachment, so a 120k-parameter update is 480 KB instead of megabytes of
 * JSON digits.
 */

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** 'bad-encoding': a compressed update (shared/compression) whose scales, levels or index map are invalid. */
export type WeightPayloadProblem = 'not-binary' | 'wrong-length' | 'not-finite' | 'bad-encoding';

/** A payload that cannot be a weight vector of the expected size; `code` says why. */
export class WeightPayloadError extends Error {
  constructor(
    readonly code: WeightPayloadProblem,
    message: string,
  ) {
    super(message);
    this.name = 'WeightPayloadError';
  }
}

/** A fresh ArrayBuffer holding exactly `weights` (never a view on a larger buffer). */
export function encodeWeights(weights: Float32Array): ArrayBuffer {
  const out = new ArrayBuffer(weights.length * 4);
  if (LITTLE_ENDIAN_HOST) {
    new Float32Array(out).set(weights);
  } else {
    const view = new DataView(out);
    for (let i = 0; i < weights.length; i++) view.setFloat32(i * 4, weights[i], true);
  }
  return out;
}

/** The payload's bytes without copying, or undefined when it is not binary. */
export function payloadBytes(payload: unknown): Uint8Array | undefined {
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  // Node's Buffer is a Uint8Array; socket.io delivers attachments as Buffers on the server.
  if (payload instanceof Uint8Array) return payload;
  return undefined;
}

/**
 * Decodes a payload into a weight vector of `expectedLength` finite values, or throws a
 * WeightPayloadError naming the problem. Copies, so the result is aligned and owned.
 */
export function decodeWeights(payload: unknown, expectedLength: number): Float32Array {
  const bytes = payloadBytes(payload);
  if (!bytes) throw new WeightPayloadError('not-binary', 'weights must be a binary attachment (ArrayBuffer), not JSON');
  if (bytes.byteLength !== expectedLength * 4) {
    throw new WeightPayloadError(
      'wrong-length',
      `weights have ${bytes.byteLength} bytes, expected ${expectedLength * 4} (${expectedLength} float32 values)`,
    );
  }
  const out = new Float32Array(expectedLength);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < expectedLength; i++) out[i] = view.getFloat32(i * 4, true);
  }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) {
      throw new WeightPayloadError(
        'not-finite',
        `weights contain ${out[i]} at index ${i}; only finite values are accepted`,
      );
    }
  }
  return out;
}
