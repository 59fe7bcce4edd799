import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeUpdate, fixedPointScale, type EncodingParams } from '../../../shared/secagg/encoding.js';

// The uniform draws of stochastic rounding, chosen by each test: one byte value per call.
const draws: number[] = [];
vi.mock('../../../shared/secagg/bytes.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../shared/secagg/bytes.js')>()),
  randomBytes: (length: number) => new Uint8Array(length).fill(draws.shift() ?? 0),
}));
afterEach(() => void (draws.length = 0));

const one: EncodingParams = { clip: 1, maxWeight: 1, maxClients: 1 };
const units = (words: Uint32Array) => Array.from(new Int32Array(words.buffer, 0, words.length - 1));

describe('stochastic rounding against chosen draws', () => {
  it('never rounds a whole number of units, even on the smallest draw', () => {
    // 0 and +-clip are 0 and +-(2^31 - 2) units exactly.
    draws.push(0x00);
    expect(units(encodeUpdate(Float32Array.of(0, 1, -1), 1, one))).toEqual([0, 2 ** 31 - 2, -(2 ** 31 - 2)]);
  });

  it('rounds up exactly when the draw is below the fractional part', () => {
    const scale = fixedPointScale(one);
    // 5 and 1234.25 units (exact in float32 at this scale: 2^31 - 2 units per 1).
    const delta = Float32Array.of(5 / scale, 1234.25 / scale, -7.75 / scale);
    const targets = Array.from(delta, (x) => x * scale);
    draws.push(0x00);
    expect(units(encodeUpdate(delta, 1, one))).toEqual(targets.map((t) => (Number.isInteger(t) ? t : Math.ceil(t))));
    draws.push(0xff);
    expect(units(encodeUpdate(delta, 1, one))).toEqual(targets.map(Math.floor));
    // Both fractional parts are 0.25 (-7.75 = -8 + 0.25): a draw of 0x3f3f3f3f / 2^32 ~ 0.247 rounds
    // them up, 0x40404040 / 2^32 ~ 0.251 down.
    draws.push(0x3f);
    expect(units(encodeUpdate(delta, 1, one))).toEqual([5, 1235, -7]);
    draws.push(0x40);
    expect(units(encodeUpdate(delta, 1, one))).toEqual([5, 1234, -8]);
  });

  it('uses each batch of draws for its own values (batches of 16384)', () => {
    const scale = fixedPointScale(one);
    const delta = new Float32Array(16384 + 3).fill(0.5 / scale);
    draws.push(0x00, 0xff);
    const out = units(encodeUpdate(delta, 1, one));
    expect(out.slice(0, 16384).every((w) => w === 1)).toBe(true);
    expect(out.slice(16384)).toEqual([0, 0, 0]);
  });
});
