import { nodeCryptoModule, type NodeCryptoModule } from './node-crypto.js';

/**
 * The mask generator: `bytes` bytes of AES-256-CTR keystream under `key` with an all-zero initial
 * counter block (the key is never reused: it is derived per round, per pair and per vector).
 * Both implementations produce identical bytes, so Node and browser clients mask compatibly.
 */
export type Keystream = (key: Uint8Array, bytes: number) => Promise<Uint8Array>;

/** Chunk size for Node: large enough to amortise the call, small enough to stay in cache. */
const NODE_CHUNK = 1 << 16;

function checkArguments(key: Uint8Array, bytes: number): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new Error('keystream key must be 32 bytes');
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new Error(`keystream length must be a non-negative integer, got ${bytes}`);
}

/** Node's OpenSSL AES-256-CTR over a reused zero chunk. */
export function nodeKeystream(crypto: NodeCryptoModule): Keystream {
  const zeroIv = new Uint8Array(16);
  const zeros = new Uint8Array(NODE_CHUNK);
  return async (key, bytes) => {
    checkArguments(key, bytes);
    const cipher = crypto.createCipheriv('aes-256-ctr', key, zeroIv);
    const out = new Uint8Array(bytes);
    for (let off = 0; off < bytes; off += NODE_CHUNK) {
      const len = Math.min(NODE_CHUNK, bytes - off);
      out.set(cipher.update(zeros.subarray(0, len)), off);
    }
    return out;
  };
}

/** WebCrypto AES-CTR (browsers need a secure context: https or localhost). */
export function webCryptoKeystream(subtle: SubtleCrypto = globalThis.crypto.subtle): Keystream {
  return async (key, bytes) => {
    checkArguments(key, bytes);
    const aesKey = await subtle.importKey('raw', new Uint8Array(key), 'AES-CTR', false, ['encrypt']);
    // The whole 16-byte block is the counter, as in OpenSSL's CTR mode.
    const encrypted = await subtle.encrypt(
      { name: 'AES-CTR', counter: new Uint8Array(16), length: 128 },
      aesKey,
      new Uint8Array(bytes),
    );
    return new Uint8Array(encrypted);
  };
}

let selected: Keystream | undefined;

/** Node's native cipher under Node, WebCrypto elsewhere; chosen once, at first use. */
export function defaultKeystream(): Keystream {
  if (!selected) {
    const nodeCrypto = nodeCryptoModule();
    selected = nodeCrypto ? nodeKeystream(nodeCrypto) : webCryptoKeystream();
  }
  return selected;
}
