import { combine, split } from 'shamir-secret-sharing';
import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../../shared/secagg/bytes.js';
import { combineShares } from '../../../shared/secagg/shamir.js';

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
