import nacl from 'tweetnacl';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sha512, sha512Half } from '../../../shared/secagg/hash.js';
import * as nodeCrypto from '../../../shared/secagg/node-crypto.js';

const parts = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(5000).fill(7), Uint8Array.of(9)];
const joined = new Uint8Array([...parts[1], ...parts[2], ...parts[3]]);

describe('sha512', () => {
  afterEach(() => vi.restoreAllMocks());

  it('hashes the concatenation of the parts, one part or many, under Node', () => {
    expect(Buffer.from(sha512(parts)).equals(Buffer.from(nacl.hash(joined)))).toBe(true);
    expect(Buffer.from(sha512([joined])).equals(Buffer.from(nacl.hash(joined)))).toBe(true);
    expect(Buffer.from(sha512([])).equals(Buffer.from(nacl.hash(new Uint8Array(0))))).toBe(true);
    expect(Buffer.from(sha512Half(parts)).equals(Buffer.from(nacl.hash(joined).subarray(0, 32)))).toBe(true);
    expect(sha512Half(parts)).toHaveLength(32);
  });

  it('hashes large inputs part by part under Node (no copy), with the same bytes as the concatenation', () => {
    const large = [
      Uint8Array.of(0, 0, 0, 4),
      new Uint8Array(1 << 16).map((_, i) => i * 7),
      new Uint8Array(0),
      Uint8Array.of(5),
    ];
    const together = new Uint8Array([...large[0], ...large[1], ...large[3]]);
    const oneShot = vi.spyOn(nodeCrypto.nodeCryptoModule()!, 'hash');
    expect(Buffer.from(sha512(large)).equals(Buffer.from(nacl.hash(together)))).toBe(true);
    expect(oneShot).not.toHaveBeenCalled();
    // One large part needs no concatenation either way, and below 64 KiB the parts are joined.
    expect(Buffer.from(sha512([together])).equals(Buffer.from(nacl.hash(together)))).toBe(true);
    expect(oneShot).toHaveBeenCalledTimes(1);
    expect(Buffer.from(sha512(parts)).equals(Buffer.from(nacl.hash(joined)))).toBe(true);
    expect(oneShot).toHaveBeenCalledTimes(2);
    const result = sha512(large);
    expect(Object.getPrototypeOf(result)).toBe(Uint8Array.prototype);
    expect(result).toHaveLength(64);
  });

  it('uses OpenSSL under Node, and tweetnacl where there is no node:crypto (browsers), with the same bytes', () => {
    const pure = vi.spyOn(nacl, 'hash');
    const underNode = sha512(parts);
    expect(pure).not.toHaveBeenCalled();
    vi.spyOn(nodeCrypto, 'nodeCryptoModule').mockReturnValue(undefined);
    const inBrowser = sha512(parts);
    expect(pure).toHaveBeenCalledTimes(1);
    expect(Buffer.from(inBrowser).equals(Buffer.from(underNode))).toBe(true);
  });
});
