/**
 * Canary update directions for the audit: rows of a Sylvester-Hadamard matrix with every column's
 * sign flipped at random. They are dense (every coordinate +-1/sqrt(d), like a real update, so
 * clipping acts on all of it) and pairwise exactly orthogonal, so the canaries do not mask one
 * another: a canary's score sees only its own contribution, the honest updates and the noise.
 * (Steinke et al. use one-hot "Dirac" canaries for the same reason.)
 */
import { permutation, seededRng } from '../../shared/random.js';

function popcountParity(x: number): number {
  let v = x;
  v ^= v >>> 16;
  v ^= v >>> 8;
  v ^= v >>> 4;
  v ^= v >>> 2;
  v ^= v >>> 1;
  return v & 1;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** `count` orthonormal directions in dimension `dimension` (a power of two, >= count), chosen by the seed. */
export function canaryDirections(count: number, dimension: number, seed: number): Float32Array[] {
  if (!isPowerOfTwo(dimension)) throw new Error(`canary dimension must be a power of two, got ${dimension}`);
  if (!(Number.isSafeInteger(count) && count >= 1 && count <= dimension)) {
    throw new Error(`canaries must be an integer in [1, dimension = ${dimension}], got ${count}`);
  }
  const rng = seededRng(seed);
  const rows = permutation(dimension, rng);
  const amplitude = 1 / Math.sqrt(dimension);
  const columnSign = Float64Array.from({ length: dimension }, () => (rng() < 0.5 ? -amplitude : amplitude));
  return Array.from({ length: count }, (_, j) => {
    const row = rows[j];
    const u = new Float32Array(dimension);
    // H[row][i] = (-1)^popcount(row & i).
    for (let i = 0; i < dimension; i++) u[i] = popcountParity(row & i) === 0 ? columnSign[i] : -columnSign[i];
    return u;
  });
}

/** The inner product of a float64 accumulator with a direction, in float64. */
export function project(values: Float64Array, direction: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * direction[i];
  return s;
}
