import type { Rng } from '../random.js';
import { decodeWeights, encodeWeights, payloadBytes, WeightPayloadError } from '../protocol/weights-codec.js';
import { topkCount, type UpdateCodecSpec } from './codec-spec.js';
import { decodeQuantized, encodeQuantized } from './quantized.js';
import { decodeTopk, encodeTopk } from './sparse.js';

/**
 * Decodes an update payload encoded with `spec` for a model whose tensors have `sizes` elements,
 * or throws a WeightPayloadError naming the problem. One pass, one output allocation.
 */
export function decodeUpdate(payload: unknown, spec: UpdateCodecSpec, sizes: readonly number[]): Float32Array {
  const n = sizes.reduce((a, b) => a + b, 0);
  if (spec.codec === 'float32') return decodeWeights(payload, n);
  const bytes = payloadBytes(payload);
  if (!bytes) throw new WeightPayloadError('not-binary', 'weights must be a binary attachment (ArrayBuffer), not JSON');
  switch (spec.codec) {
    case 'int8':
      return decodeQuantized(bytes, sizes, 8);
    case 'int4':
      return decodeQuantized(bytes, sizes, 4);
    case 'topk':
      return decodeTopk(bytes, n, topkCount(n, spec.fraction));
    default: {
      const never: never = spec;
      throw new Error(`unknown update codec ${JSON.stringify(never)}`);
    }
  }
}

/** An encoded update, and how to make its error-feedback state current once the coordinator accepted it. */
export interface EncodedUpdate {
  payload: ArrayBuffer;
  /** Call when the update was accepted: what it left out is then carried into the next one. */
  commit(): void;
}

/**
 * A client's encoder, living across rounds. It keeps the residual of top-k rounds (what was not
 * sent) and adds it to the next update (error feedback), so no part of an update is lost for
 * good, only delayed. A round with another codec sends the residual in full.
 */
export class UpdateEncoder {
  private residual: Float32Array | undefined;

  constructor(
    private readonly sizes: readonly number[],
    private readonly rng: Rng = Math.random,
  ) {}

  encode(delta: Float32Array, spec: UpdateCodecSpec): EncodedUpdate {
    const n = this.sizes.reduce((a, b) => a + b, 0);
    if (delta.length !== n) throw new Error(`the update has ${delta.length} values, the model's tensors hold ${n}`);
    const withResidual = this.residual ? delta.map((v, i) => v + this.residual![i]) : delta;
    const sent =
      (residual: Float32Array | undefined): EncodedUpdate['commit'] =>
      () => {
        this.residual = residual;
      };
    switch (spec.codec) {
      case 'float32':
        return { payload: encodeWeights(withResidual), commit: sent(undefined) };
      case 'int8':
        return { payload: encodeQuantized(withResidual, this.sizes, 8, this.rng), commit: sent(undefined) };
      case 'int4':
        return { payload: encodeQuantized(withResidual, this.sizes, 4, this.rng), commit: sent(undefined) };
      case 'topk': {
        const { payload, residual } = encodeTopk(withResidual, topkCount(withResidual.length, spec.fraction));
        return { payload, commit: sent(residual) };
      }
      default: {
        const never: never = spec;
        throw new Error(`unknown update codec ${JSON.stringify(never)}`);
      }
    }
  }
}
