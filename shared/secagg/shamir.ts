/**
 * Shamir secret sharing byte by byte over GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, in the share
 * format of shamir-secret-sharing: each share holds the polynomials' values at its x coordinate
 * for every secret byte, then that x coordinate as its last byte. The library draws randomness
 * once per secret byte and interpolates every byte from scratch (t^2 field divisions per byte);
 * here one CSPRNG call covers all coefficients, and combining computes the Lagrange weights at
 * x = 0 once per secret, each byte then being a t-term sum. Shares interoperate both ways.
 */
import { randomBytes } from './bytes.js';

const LOG = new Uint8Array(256);
/** Twice over, so that EXP[LOG[a] + LOG[b]] needs no reduction mod 255. */
const EXP = new Uint8Array(510);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = EXP[i + 255] = x;
    LOG[x] = i;
    // Multiply by the generator 3 (x + 1): x * 2 reduced by the field polynomial, plus x.
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
  }
}

function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** a / b for b != 0. */
function div(a: number, b: number): number {
  return a === 0 ? 0 : EXP[LOG[a] + 255 - LOG[b]];
}

/**
 * `count` shares of `secret`, any `threshold` of which rebuild it and fewer reveal nothing: a
 * polynomial of degree threshold - 1 per byte, its constant term the byte and the others uniform
 * from the CSPRNG, evaluated at x = 1..count.
 */
export function splitSecret(secret: Uint8Array, count: number, threshold: number): Uint8Array[] {
  if (secret.length < 1) throw new Error('the secret cannot be empty');
  if (!Number.isInteger(threshold) || !Number.isInteger(count) || threshold < 2 || count < threshold || count > 255)
    throw new Error(`need 2 <= threshold <= count <= 255, got threshold ${threshold} and count ${count}`);
  const degree = threshold - 1;
  const coefficients = randomBytes(secret.length * degree);
  const shares = Array.from({ length: count }, (_, j) => {
    const share = new Uint8Array(secret.length + 1);
    share[secret.length] = j + 1;
    return share;
  });
  for (let j = 0; j < count; j++) {
    const share = shares[j];
    const logX = LOG[j + 1];
    for (let b = 0; b < secret.length; b++) {
      // Horner's rule from the highest coefficient down to the secret byte.
      const c = b * degree;
      let y = coefficients[c + degree - 1];
      for (let d = degree - 2; d >= 0; d--) y = (y === 0 ? 0 : EXP[LOG[y] + logX]) ^ coefficients[c + d];
      share[b] = (y === 0 ? 0 : EXP[LOG[y] + logX]) ^ secret[b];
    }
  }
  return shares;
}

/**
 * The secret behind `shares` (at least 2, of one length, with distinct x coordinates), or an
 * Error: the same bytes shamir-secret-sharing's combine() returns for the same shares.
 */
export function combineShares(shares: readonly Uint8Array[]): Uint8Array {
  if (shares.length < 2 || shares.length > 255)
    throw new Error(`combining needs 2 to 255 shares, got ${shares.length}`);
  const length = shares[0].length;
  if (length < 2) throw new Error('each share must be at least 2 bytes');
  const xs = shares.map((s) => {
    if (s.length !== length) throw new Error('all shares must have the same byte length');
    return s[length - 1];
  });
  if (new Set(xs).size !== xs.length) throw new Error('two shares have the same x coordinate');
  // weight_i = prod_{j != i} x_j / (x_i - x_j): the Lagrange basis polynomial of x_i at 0 (minus is xor here).
  const weights = xs.map((xi, i) => {
    let w = 1;
    xs.forEach((xj, j) => {
      if (j !== i) w = mul(w, div(xj, xi ^ xj));
    });
    return w;
  });
  const secret = new Uint8Array(length - 1);
  for (let i = 0; i < shares.length; i++) {
    const w = weights[i];
    if (w === 0) continue;
    const share = shares[i];
    const logW = LOG[w];
    for (let b = 0; b < secret.length; b++) if (share[b] !== 0) secret[b] ^= EXP[LOG[share[b]] + logW];
  }
  return secret;
}
