import { z } from 'zod';

/**
 * How a client encodes its update for one round, chosen by the coordinator and announced in the
 * training task:
 * - `float32`: 4 bytes per parameter, exact (the default);
 * - `int8` / `int4`: one float32 scale per weight tensor and a signed level per parameter
 *   (1 byte / half a byte), rounded stochastically so the decoded update is unbiased;
 * - `topk`: only the `fraction` of parameters largest in magnitude, as a presence bitmap plus
 *   their float32 values; the client keeps what it did not send and adds it to its next update
 *   (error feedback). Plaintext rounds only.
 */
export const UpdateCodecSpecSchema = z.discriminatedUnion('codec', [
  z.strictObject({ codec: z.literal('float32') }),
  z.strictObject({ codec: z.literal('int8') }),
  z.strictObject({ codec: z.literal('int4') }),
  z.strictObject({
    codec: z.literal('topk'),
    /** Fraction of the parameters sent each round; at least one parameter is always sent. */
    fraction: z.number().gt(0).max(1),
  }),
]);
export type UpdateCodecSpec = z.infer<typeof UpdateCodecSpecSchema>;

export const FLOAT32_CODEC: UpdateCodecSpec = { codec: 'float32' };

/** Largest level of each quantizing codec: symmetric, so -128 (int8) and -8 (int4) never occur. */
export const QUANT_LEVELS = { int8: 127, int4: 7 } as const;

/** Parameters a top-k update carries for a model of `parameterCount` parameters. */
export function topkCount(parameterCount: number, fraction: number): number {
  return Math.min(parameterCount, Math.max(1, Math.ceil(parameterCount * fraction)));
}

/** Element count of each weight tensor, in order: quantizing codecs keep one scale per tensor. */
export function tensorSizes(specs: readonly { shape: readonly number[] }[]): number[] {
  return specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
}

/** Bytes of an encoded update: what crosses the wire for `sizes` under `spec`. */
export function encodedBytes(spec: UpdateCodecSpec, sizes: readonly number[]): number {
  const n = sizes.reduce((a, b) => a + b, 0);
  switch (spec.codec) {
    case 'float32':
      return 4 * n;
    case 'int8':
      return 4 * sizes.length + n;
    case 'int4':
      return 4 * sizes.length + Math.ceil(n / 2);
    case 'topk':
      return Math.ceil(n / 8) + 4 * topkCount(n, spec.fraction);
    default: {
      const never: never = spec;
      throw new Error(`unknown update codec ${JSON.stringify(never)}`);
    }
  }
}

/** Short text for logs and tables, e.g. 'int8' or 'topk 10%'. */
export function describeCodec(spec: UpdateCodecSpec): string {
  return spec.codec === 'topk' ? `topk ${Number((spec.fraction * 100).toPrecision(4))}%` : spec.codec;
}

export function sameCodec(a: UpdateCodecSpec, b: UpdateCodecSpec): boolean {
  return a.codec === b.codec && (a.codec !== 'topk' || a.fraction === (b as typeof a).fraction);
}
