import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultKeystream, nodeKeystream, webCryptoKeystream } from '../../../shared/secagg/keystream.js';
import { defaultMaskAccumulator, keystreamAccumulator, nodeMaskAccumulator } from '../../../shared/secagg/masks.js';
import { nodeCryptoModule } from '../../../shared/secagg/node-crypto.js';

const nodeStream = nodeKeystream(nodeCryptoModule()!);
const webStream = webCryptoKeystream(globalThis.crypto.subtle);

/** AES-256 of one 16-byte big-endian counter block: CTR mode's definition, computed independently. */
function aesBlock(key: Uint8Array, counter: bigint): Uint8Array {
  const block = new Uint8Array(16);
  for (let i = 15, c = counter; i >= 0; i--, c >>= 8n) block[i] = Number(c & 0xffn);
  const ecb = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
  return new Uint8Array(ecb.update(block));
}

describe('mask keystream', () => {
  it('Node crypto and WebCrypto produce identical bytes, across chunk boundaries', async () => {
    for (const bytes of [0, 1, 15, 16, 17, 4099, 65535, 65536, 65537, 3 * 65536 + 5]) {
      const key = new Uint8Array(randomBytes(32));
      const [a, b] = await Promise.all([nodeStream(key, bytes), webStream(key, bytes)]);
      expect(a.length).toBe(bytes);
      expect(Buffer.from(a).equals(Buffer.from(b)), `${bytes} bytes`).toBe(true);
    }
  });

  it('is AES-256-CTR with an all-zero initial counter block', async () => {
    const key = new Uint8Array(randomBytes(32));
    const stream = await nodeStream(key, 16 * 5000);
    for (const block of [0, 1, 255, 256, 4096, 4999]) {
      expect(
        Buffer.from(stream.subarray(16 * block, 16 * block + 16)).equals(Buffer.from(aesBlock(key, BigInt(block)))),
      ).toBe(true);
    }
  });

  it('differs completely under a different key', async () => {
    const key = new Uint8Array(randomBytes(32));
    const other = key.slice();
    other[31] ^= 1;
    const [a, b] = await Promise.all([nodeStream(key, 4096), nodeStream(other, 4096)]);
    const equalBytes = a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0);
    expect(equalBytes).toBeLessThan(4096 / 256 + 5 * 4);
  });

  it('uses Node crypto under Node and refuses bad keys and lengths', async () => {
    const key = new Uint8Array(32).fill(7);
    expect(Buffer.from(await defaultKeystream()(key, 100)).equals(Buffer.from(await nodeStream(key, 100)))).toBe(true);
    await expect(nodeStream(new Uint8Array(16), 10)).rejects.toThrow(/32 bytes/);
    await expect(webStream(key, -1)).rejects.toThrow(/non-negative integer/);
  });

  it('imports the mask key into WebCrypto as non-extractable, for encryption only', async () => {
    const real = globalThis.crypto.subtle;
    const imported: CryptoKey[] = [];
    const subtle = {
      importKey: async (...args: Parameters<SubtleCrypto['importKey']>) => {
        const key = await (real.importKey as (...a: unknown[]) => Promise<CryptoKey>)(...args);
        imported.push(key);
        return key;
      },
      encrypt: real.encrypt.bind(real),
    } as unknown as SubtleCrypto;
    await webCryptoKeystream(subtle)(new Uint8Array(32), 16);
    expect(imported.map((k) => [k.extractable, k.usages])).toEqual([[false, ['encrypt']]]);
  });

  it('names what is wrong with a key or a length, and chooses its default once', async () => {
    const stream = nodeKeystream(nodeCryptoModule()!);
    await expect(stream(new Uint8Array(31), 10)).rejects.toThrow('keystream key must be 32 bytes');
    await expect(stream(Array.from({ length: 32 }, () => 0) as unknown as Uint8Array, 10)).rejects.toThrow(
      'keystream key must be 32 bytes',
    );
    await expect(stream(new Uint8Array(32), 1.5)).rejects.toThrow(
      'keystream length must be a non-negative integer, got 1.5',
    );
    expect(defaultKeystream()).toBe(defaultKeystream());
    // WebCrypto by default uses the global subtle crypto.
    const key = new Uint8Array(32).fill(3);
    expect(Buffer.from(await webCryptoKeystream()(key, 48)).equals(Buffer.from(await stream(key, 48)))).toBe(true);
  });

  it("adds masks identically through Node's block-streaming accumulator and WebCrypto whole masks", async () => {
    for (const words of [1, 5, 16384, 2 * 16384 + 3]) {
      const terms = [1, -1, -1, 1, 1].map((sign) => ({ key: new Uint8Array(randomBytes(32)), sign: sign as 1 | -1 }));
      const start = Uint32Array.from({ length: words }, (_, i) => i * 2654435761);
      const viaNode = start.slice();
      const viaWeb = start.slice();
      await nodeMaskAccumulator(nodeCryptoModule()!)(viaNode, terms);
      const viaDefault = start.slice();
      await defaultMaskAccumulator()(viaDefault, terms);
      expect(viaDefault).toEqual(viaNode);
      await keystreamAccumulator(webStream)(viaWeb, terms);
      expect(viaNode).toEqual(viaWeb);
      // Adding a mask and subtracting it again restores the words exactly (mod 2^32).
      await nodeMaskAccumulator(nodeCryptoModule()!)(
        viaNode,
        terms.map((t) => ({ ...t, sign: -t.sign as 1 | -1 })),
      );
      expect(viaNode).toEqual(start);
    }
    expect(defaultMaskAccumulator()).toBe(defaultMaskAccumulator());
    await expect(
      nodeMaskAccumulator(nodeCryptoModule()!)(new Uint32Array(4), [{ key: new Uint8Array(16), sign: 1 }]),
    ).rejects.toThrow('keystream key must be 32 bytes');
  });
});
