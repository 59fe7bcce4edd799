import nacl from 'tweetnacl';
import { concatBytes } from './bytes.js';
import { nodeCryptoModule } from './node-crypto.js';

/** From this many bytes on, Node hashes the parts one by one instead of concatenating them. */
const STREAMED_BYTES = 1 << 16;

/**
 * SHA-512 over the concatenated parts: OpenSSL's under Node (2-10x tweetnacl's pure JS, and a client
 * hashes a model's weights and several hundred keys and commitments each round), tweetnacl elsewhere.
 * Synchronous in both, unlike WebCrypto's digest. One call for the lot: on small inputs the call, not
 * the hashing, is the cost.
 */
export function sha512(parts: readonly Uint8Array[]): Uint8Array {
  const crypto = nodeCryptoModule();
  if (!crypto) return nacl.hash(parts.length === 1 ? parts[0] : concatBytes(parts));
  if (parts.length === 1) return new Uint8Array(crypto.hash('sha512', parts[0], 'buffer'));
  let total = 0;
  for (const p of parts) total += p.length;
  // A model's weights (the task digest) are hashed where they lie rather than copied next to the label first.
  if (total >= STREAMED_BYTES) {
    const hash = crypto.createHash('sha512');
    for (const p of parts) hash.update(p);
    return new Uint8Array(hash.digest());
  }
  // Small inputs (hundreds per round: keys, tree nodes, commitments) are joined in one reused buffer.
  if (joined.length < total) joined = new Uint8Array(Math.max(total, 2 * joined.length));
  let off = 0;
  for (const p of parts) {
    joined.set(p, off);
    off += p.length;
  }
  return new Uint8Array(crypto.hash('sha512', joined.subarray(0, total), 'buffer'));
}

/** Where sha512 joins small parts under Node; grows up to STREAMED_BYTES. */
let joined = new Uint8Array(256);

/** The first 32 bytes of sha512(parts): the keys, commitments and digests of this protocol. */
export function sha512Half(parts: readonly Uint8Array[]): Uint8Array {
  return sha512(parts).subarray(0, 32);
}
