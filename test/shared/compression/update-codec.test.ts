import { describe, expect, it } from 'vitest';
import { encodedBytes, tensorSizes, topkCount, type UpdateCodecSpec } from '../../../shared/compression/codec-spec.js';
import { decodeUpdate, UpdateEncoder } from '../../../shared/compression/update-codec.js';
import { WeightPayloadError } from '../../../shared/protocol/weights-codec.js';
import { seededRng } from '../../../shared/random.js';

const sizes = tensorSizes([{ shape: [10, 20] }, { shape: [20] }, { shape: [20, 3] }, { shape: [3] }]);
const n = sizes.reduce((a, b) => a + b, 0);

function randomDelta(seed: number): Float32Array {
  const rng = seededRng(seed);
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * 0.2);
}

const CODECS: UpdateCodecSpec[] = [
  { codec: 'float32' },
  { codec: 'int8' },
  { codec: 'int4' },
  { codec: 'topk', fraction: 0.1 },
];

describe('update codecs', () => {
  it.each(CODECS)('$codec: the payload has the announced size and decodes to the model length', (spec) => {
    const payload = new UpdateEncoder(sizes, seededRng(1)).encode(randomDelta(1), spec).payload;
    expect(payload.byteLength).toBe(encodedBytes(spec, sizes));
    expect(decodeUpdate(payload, spec, sizes)).toHaveLength(n);
  });

  it('float32 is exact and int8 is within one level of each tensor', () => {
    const delta = randomDelta(2);
    expect(
      decodeUpdate(new UpdateEncoder(sizes).encode(delta, { codec: 'float32' }).payload, { codec: 'float32' }, sizes),
    ).toEqual(delta);
    const int8 = decodeUpdate(
      new UpdateEncoder(sizes, seededRng(2)).encode(delta, { codec: 'int8' }).payload,
      { codec: 'int8' },
      sizes,
    );
    let at = 0;
    for (const size of sizes) {
      const slice = delta.subarray(at, at + size);
      const step = Math.max(...slice.map(Math.abs)) / 127;
      for (let i = at; i < at + size; i++) expect(Math.abs(int8[i] - delta[i])).toBeLessThanOrEqual(step * (1 + 1e-6));
      at += size;
    }
  });

  it('sizes on the seed-scale model: int8 <= 0.26x and topk 10% <= 0.14x of float32', () => {
    const big = [800, 32, 25_600, 32, 100_000, 10];
    const float32 = encodedBytes({ codec: 'float32' }, big);
    expect(encodedBytes({ codec: 'int8' }, big) / float32).toBeLessThanOrEqual(0.26);
    expect(encodedBytes({ codec: 'int4' }, big) / float32).toBeLessThanOrEqual(0.13);
    expect(encodedBytes({ codec: 'topk', fraction: 0.1 }, big) / float32).toBeLessThanOrEqual(0.14);
    expect(topkCount(10, 0.001)).toBe(1);
  });

  it('top-k error feedback: what one round leaves out is sent in later rounds, once accepted', () => {
    const spec: UpdateCodecSpec = { codec: 'topk', fraction: 0.1 };
    const encoder = new UpdateEncoder(sizes);
    const delta = randomDelta(3);
    const rounds = 40;
    const sent = new Float64Array(n);
    for (let r = 0; r < rounds; r++) {
      const encoded = encoder.encode(delta, spec);
      decodeUpdate(encoded.payload, spec, sizes).forEach((v, i) => (sent[i] += v));
      encoded.commit();
    }
    // Every coordinate's total is rounds x delta minus what still waits (less than what makes the cut).
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(sent[i] - rounds * delta[i]));
    const largest = Math.max(...delta.map(Math.abs));
    expect(worst).toBeLessThan(rounds * largest * 0.25);
    // Without feedback the same 10% would go out every round; with it, most coordinates get their turn.
    let reached = 0;
    for (let i = 0; i < n; i++) if (sent[i] !== 0) reached++;
    expect(reached / n).toBeGreaterThan(0.5);
  });

  it('a refused (uncommitted) top-k update leaves the residual as it was', () => {
    const spec: UpdateCodecSpec = { codec: 'topk', fraction: 0.1 };
    const delta = randomDelta(4);
    const a = new UpdateEncoder(sizes);
    a.encode(delta, spec);
    const b = new UpdateEncoder(sizes);
    expect(new Uint8Array(a.encode(delta, spec).payload)).toEqual(new Uint8Array(b.encode(delta, spec).payload));
  });

  it('a dense round after top-k rounds sends the whole residual and clears it', () => {
    const encoder = new UpdateEncoder(sizes);
    const delta = randomDelta(5);
    const topk = encoder.encode(delta, { codec: 'topk', fraction: 0.1 });
    const first = decodeUpdate(topk.payload, { codec: 'topk', fraction: 0.1 }, sizes);
    topk.commit();
    const zero = new Float32Array(n);
    const dense = encoder.encode(zero, { codec: 'float32' });
    const second = decodeUpdate(dense.payload, { codec: 'float32' }, sizes);
    dense.commit();
    for (let i = 0; i < n; i++) expect(first[i] + second[i]).toBeCloseTo(delta[i], 6);
    expect(decodeUpdate(encoder.encode(zero, { codec: 'float32' }).payload, { codec: 'float32' }, sizes)).toEqual(zero);
  });

  it('refuses to encode an update of another length than the model', () => {
    expect(() => new UpdateEncoder(sizes).encode(new Float32Array(n - 1), { codec: 'int8' })).toThrow(
      /has 282 values, the model's tensors hold 283/,
    );
  });

  it.each(CODECS)('$codec: refuses JSON numbers instead of bytes', (spec) => {
    expect(() => decodeUpdate([0.1, 0.2], spec, sizes)).toThrow(WeightPayloadError);
    expect(() => decodeUpdate([0.1, 0.2], spec, sizes)).toThrow(/binary attachment/);
  });

  it('refuses a payload encoded with another codec than the one it is decoded as', () => {
    const int8 = new UpdateEncoder(sizes).encode(randomDelta(6), { codec: 'int8' }).payload;
    for (const spec of [
      { codec: 'float32' },
      { codec: 'int4' },
      { codec: 'topk', fraction: 0.1 },
    ] as UpdateCodecSpec[]) {
      expect(() => decodeUpdate(int8, spec, sizes)).toThrow(expect.objectContaining({ code: 'wrong-length' }));
    }
  });
});
