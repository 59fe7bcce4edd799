/**
 * Gaussian noise for differential privacy. Production noise comes from the platform CSPRNG
 * (crypto.getRandomValues, in Node >= 19 and every browser); tests inject a seeded word source
 * so statistical checks are reproducible.
 */
import { seededRng } from '../random.js';

/** Fills `out` with uniformly random 32-bit words. */
export type RandomWords = (out: Uint32Array<ArrayBuffer>) => void;

/** getRandomValues accepts at most 65,536 bytes per call. */
const MAX_CRYPTO_WORDS = 16_384;

export const cryptoRandomWords: RandomWords = (out) => {
  const webCrypto = globalThis.crypto;
  if (webCrypto === undefined || typeof webCrypto.getRandomValues !== 'function') {
    throw new Error('no CSPRNG: globalThis.crypto.getRandomValues is unavailable (needs Node >= 19 or a browser)');
  }
  for (let off = 0; off < out.length; off += MAX_CRYPTO_WORDS) {
    webCrypto.getRandomValues(out.subarray(off, Math.min(out.length, off + MAX_CRYPTO_WORDS)));
  }
};

/** Reproducible words for tests and simulations only: predictable, so it gives no privacy. */
export function seededRandomWords(seed: number): RandomWords {
  const rng = seededRng(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = rng() * 4294967296;
  };
}

const TWO_POW_26 = 67_108_864;
const TWO_POW_53 = 9_007_199_254_740_992;
const BUFFER_WORDS = 4_096;

/** Standard normal variates in float64 by the Box-Muller transform over 53-bit uniforms. */
export class GaussianSampler {
  private readonly words = new Uint32Array(BUFFER_WORDS);
  private next = BUFFER_WORDS;
  private spare: number | null = null;

  constructor(private readonly source: RandomWords = cryptoRandomWords) {}

  /** Uniform in (0, 1]: never 0, so log(u) is finite. */
  private uniform(): number {
    if (this.next + 2 > BUFFER_WORDS) {
      this.source(this.words);
      this.next = 0;
    }
    const hi = this.words[this.next++] >>> 5;
    const lo = this.words[this.next++] >>> 6;
    return (hi * TWO_POW_26 + lo + 1) / TWO_POW_53;
  }

  /** One N(0, 1) draw. */
  standardNormal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

/**
 * values + N(0, std^2) independently per coordinate, as a new array (the input is not mutated).
 * The sum is formed in float64 and rounded once to float32.
 */
export function addGaussianNoise(values: Float32Array, std: number, sampler: GaussianSampler): Float32Array {
  if (!(std >= 0 && Number.isFinite(std))) throw new Error(`noise std must be finite and >= 0, got ${std}`);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] + std * sampler.standardNormal();
  return out;
}
