import { defaultKeystream, type Keystream } from './keystream.js';
import { nodeCryptoModule, type NodeCryptoModule } from './node-crypto.js';
import { addWords, BLOCK_WORDS, defaultWordAdder } from './word-adder.js';

/** One mask to add (+1) or subtract (-1): the keystream under `key`, read as uint32 words. */
export interface MaskTerm {
  key: Uint8Array;
  sign: 1 | -1;
}

/** target += sum of sign * keystream(key) over the terms, word by word, mod 2^32. */
export type MaskAccumulator = (target: Uint32Array, terms: readonly MaskTerm[]) => Promise<void>;

/** A 4-byte-aligned Int32 view of `bytes` (copied only when the offset is unaligned). */
export function int32View(bytes: Uint8Array, words: number): Int32Array {
  // A copy, not bytes.slice(): on a Node Buffer (what socket.io delivers) slice is a view at the same offset.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  return new Int32Array(aligned.buffer, aligned.byteOffset, words);
}

/** The same words as int32, whose wrapping arithmetic is exactly uint32's mod 2^32. */
export function signedView(words: Uint32Array): Int32Array {
  return new Int32Array(words.buffer, words.byteOffset, words.length);
}

/** Any Keystream, one whole mask at a time (WebCrypto cannot stream). */
export function keystreamAccumulator(keystream: Keystream): MaskAccumulator {
  return async (target, terms) => {
    const acc = signedView(target);
    for (const { key, sign } of terms)
      addWords(acc, int32View(await keystream(key, target.length * 4), target.length), sign);
  };
}

/**
 * Node: every term's AES-256-CTR cipher advances block by block, so all masks are added to one
 * cache-resident block of target before moving on; the same bytes as nodeKeystream, without
 * materialising any whole mask.
 */
export function nodeMaskAccumulator(crypto: NodeCryptoModule): MaskAccumulator {
  const zeroIv = new Uint8Array(16);
  const zeros = new Uint8Array(BLOCK_WORDS * 4);
  return async (target, terms) => {
    const ciphers = terms.map(({ key, sign }) => {
      if (key.length !== 32) throw new Error('keystream key must be 32 bytes');
      return { cipher: crypto.createCipheriv('aes-256-ctr', key, zeroIv), sign };
    });
    const acc = signedView(target);
    const adder = defaultWordAdder();
    for (let start = 0; start < acc.length; start += BLOCK_WORDS) {
      const block = acc.subarray(start, Math.min(acc.length, start + BLOCK_WORDS));
      const input = zeros.subarray(0, block.length * 4);
      adder.begin(block);
      for (const { cipher, sign } of ciphers) adder.add(int32View(cipher.update(input), block.length), sign);
      adder.end();
    }
  };
}

let selected: MaskAccumulator | undefined;

/** Node's streaming accumulator under Node, WebCrypto's keystream elsewhere. */
export function defaultMaskAccumulator(): MaskAccumulator {
  if (!selected) {
    const nodeCrypto = nodeCryptoModule();
    selected = nodeCrypto ? nodeMaskAccumulator(nodeCrypto) : keystreamAccumulator(defaultKeystream());
  }
  return selected;
}
