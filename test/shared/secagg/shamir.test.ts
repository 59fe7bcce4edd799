import { combine, split } from 'shamir-secret-sharing';
import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../../shared/secagg/bytes.js';
import { combineShares, splitSecret } from '../../../shared/secagg/shamir.js';

describe('splitSecret', () => {
  it('deals shares that any t of rebuild, with ours and with the library alike, at x = 1..k', async () => {
    for (const [k, t] of [
      [2, 2],
      [7, 4],
      [42, 28],
    ]) {
      const secret = randomBytes(32);
      const shares = splitSecret(secret, k, t);
      expect(shares.map((s) => s[32])).toEqual(Array.from({ length: k }, (_, i) => i + 1));
      const picked = [...shares].sort(() => Math.random() - 0.5).slice(0, t);
      expect(combineShares(picked)).toEqual(secret);
      expect(await combine(picked)).toEqual(secret);
    }
  });

  it('hides the secret from t - 1 shares: one share of a fixed byte takes any value, so it pins nothing', () => {
    const secret = randomBytes(16);
    const shares = splitSecret(secret, 5, 3);
    expect(combineShares(shares.slice(0, 2))).not.toEqual(secret);
    expect(splitSecret(secret, 5, 3)).not.toEqual(shares);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(splitSecret(Uint8Array.of(42), 3, 2)[0][0]);
    expect(seen.size).toBeGreaterThan(240);
  });

  it('refuses an empty secret and a threshold outside 2..count..255', () => {
    expect(() => splitSecret(new Uint8Array(0), 3, 2)).toThrow('cannot be empty');
    expect(() => splitSecret(randomBytes(4), 3, 1)).toThrow('threshold');
    expect(() => splitSecret(randomBytes(4), 3, 4)).toThrow('threshold');
    expect(() => splitSecret(randomBytes(4), 256, 4)).toThrow('threshold');
  });
});

describe('combineShares', () => {
  it('rebuilds the secret from any t of k shares dealt by shamir-secret-sharing, as its combine() does', async () => {
    for (const [k, t] of [
      [2, 2],
      [5, 3],
      [42, 28],
      [99, 51],
    ]) {
      const secret = randomBytes(32);
      const shares = await split(secret, k, t);
      const picked = [...shares].sort(() => Math.random() - 0.5).slice(0, t);
      expect(combineShares(picked)).toEqual(secret);
      expect(combineShares(shares)).toEqual(secret);
      expect(combineShares(picked)).toEqual(await combine(picked));
    }
  });

  it('gives what the library gives for shares that do not fit one polynomial, and t - 1 shares miss the secret', async () => {
    const secret = randomBytes(32);
    const shares = await split(secret, 10, 6);
    const forged = shares.slice(0, 6).map((s) => s.slice());
    forged[2][5] ^= 0x5a;
    expect(combineShares(forged)).toEqual(await combine(forged));
    expect(combineShares(forged)).not.toEqual(secret);
    expect(combineShares(shares.slice(0, 5))).not.toEqual(secret);
    // Zero bytes and a zero x coordinate (only a forger's) follow the same field arithmetic.
    const odd = [Uint8Array.of(0, 7, 0), Uint8Array.of(3, 0, 9), Uint8Array.of(5, 5, 200)];
    expect(combineShares(odd)).toEqual(await combine(odd));
  });

  it('refuses repeated x coordinates, mixed lengths and fewer than two shares', async () => {
    const shares = await split(randomBytes(32), 5, 3);
    expect(() => combineShares([shares[0], shares[1], shares[0]])).toThrow('same x coordinate');
    expect(() => combineShares([shares[0], shares[1].subarray(1)])).toThrow('same byte length');
    expect(() => combineShares([shares[0]])).toThrow('2 to 255 shares');
    expect(() => combineShares([Uint8Array.of(1), Uint8Array.of(2)])).toThrow('at least 2 bytes');
  });
});
