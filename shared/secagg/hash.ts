import nacl from 'tweetnacl';
import { concatBytes } from './bytes.js';
import { nodeCryptoModule } from './node-crypto.js';

/**
 * SHA-512 over the concatenated parts: OpenSSL's under Node (2-10x tweetnacl's pure JS, and a client
 * hashes a model's weights and a few hundred keys and commitments each round), tweetnacl elsewhere.
 * Synchronous in both, unlike WebCrypto's digest.
 */
/** Parts below this are copied into one buffer and hashed in one call. */
const SMALL = 4096;

export function sha512(parts: readonly Uint8Array[]): Uint8Array {
  const crypto = nodeCryptoModule();
  if (!crypto) return nacl.hash(concatBytes(parts));
  // Small inputs (keys, commitments) cost the call, not the hashing: one call for the lot.
  if (parts.length > 1 && parts.every((p) => p.length < SMALL)) return new Uint8Array(crypto.hash('sha512', concatBytes(parts), 'buffer'));
  const hash = crypto.createHash('sha512');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** The first 32 bytes of sha512(parts): the keys, commitments and digests of this protocol. */
export function sha512Half(parts: readonly Uint8Array[]): Uint8Array {
  return sha512(parts).subarray(0, 32);
}
