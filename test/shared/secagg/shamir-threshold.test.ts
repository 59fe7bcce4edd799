import { randomBytes } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { describe, expect, it } from 'vitest';

/**
 * The threshold property SecAgg+ rests on, for the Shamir library the clients use
 * (shamir-secret-sharing) on 32-byte secrets like their mask seeds and keys: any t shares rebuild
 * the secret, and t - 1 shares reveal nothing about it: they fit every possible secret equally well.
 *
 * A share is the polynomial's value at x for each secret byte, followed by x itself (one byte).
 * The arithmetic below is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1, written here
 * independently of the library's lookup tables.
 */

const SECRET_BYTES = 32;

function gfMul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) product ^= a;
    const carry = a & 0x80;
    a = (a << 1) & 0xff;
    if (carry) a ^= 0x1b;
    b >>= 1;
  }
  return product;
}

function gfInv(a: number): number {
  if (a === 0) throw new Error('0 has no inverse');
  // a^254 = a^-1 in GF(2^8).
  let result = 1;
  for (let i = 0; i < 254; i++) result = gfMul(result, a);
  return result;
}

/** The value at x of the polynomial of lowest degree through `points` (addition and subtraction are XOR). */
function interpolateAt(points: { x: number; y: number }[], x: number): number {
  let value = 0;
  for (const [j, pj] of points.entries()) {
    let basis = 1;
    for (const [m, pm] of points.entries()) {
      if (m !== j) basis = gfMul(basis, gfMul(x ^ pm.x, gfInv(pj.x ^ pm.x)));
    }
    value ^= gfMul(pj.y, basis);
  }
  return value;
}

const xOf = (share: Uint8Array) => share[share.length - 1];

/**
 * The share at `x` that, together with `known`, makes `combine` return `claimed`: it exists for
 * every claimed secret exactly when `known` has fewer shares than the threshold.
 */
function completingShare(known: Uint8Array[], claimed: Uint8Array, x: number): Uint8Array {
  const share = new Uint8Array(claimed.length + 1);
  share[claimed.length] = x;
  for (let i = 0; i < claimed.length; i++) {
    share[i] = interpolateAt([{ x: 0, y: claimed[i] }, ...known.map((s) => ({ x: xOf(s), y: s[i] }))], x);
  }
  return share;
}

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

const unusedX = (shares: Uint8Array[]) =>
  [...Array(255).keys()].map((i) => i + 1).find((x) => !shares.some((s) => xOf(s) === x))!;

describe.each([
  { n: 5, t: 3 },
  { n: 8, t: 5 },
])('Shamir sharing of a 32-byte secret, $t of $n', ({ n, t }) => {
  it('any t shares rebuild the secret', async () => {
    const secret = new Uint8Array(randomBytes(SECRET_BYTES));
    const shares = await split(secret, n, t);
    expect(shares).toHaveLength(n);
    expect(new Set(shares.map(xOf)).size).toBe(n);
    for (const chosen of subsets(shares, t)) expect(await combine(chosen)).toEqual(secret);
  });

  it('t - 1 shares do not rebuild it', async () => {
    const secret = new Uint8Array(randomBytes(SECRET_BYTES));
    const shares = await split(secret, n, t);
    // Interpolating t - 1 points of a degree t - 1 polynomial lands on the secret byte with
    // probability 1/256 per byte: all 32 bytes by chance is 2^-256.
    for (const chosen of subsets(shares, t - 1)) expect(await combine(chosen)).not.toEqual(secret);
  });

  it('t - 1 shares fit every secret: for each one exactly one further share completes them to it', async () => {
    const secret = new Uint8Array(randomBytes(SECRET_BYTES));
    const shares = await split(secret, n, t);
    const known = shares.slice(0, t - 1);
    // The arithmetic here agrees with the library: completing to the true secret at another
    // share's x gives back exactly that share.
    expect(completingShare(known, secret, xOf(shares[t - 1]))).toEqual(shares[t - 1]);
    const x = unusedX(shares);
    const claims = [
      new Uint8Array(randomBytes(SECRET_BYTES)),
      ...Array.from({ length: 256 }, (_, v) => new Uint8Array(SECRET_BYTES).fill(v)),
    ];
    for (const claimed of claims) {
      const forged = completingShare(known, claimed, x);
      expect(await combine([...known, forged])).toEqual(claimed);
    }
  });
});
