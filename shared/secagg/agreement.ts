import nacl from 'tweetnacl';
import { base64url, concatBytes, isAllZero, randomBytes } from './bytes.js';
import { nodeCryptoModule, type NodeCryptoModule } from './node-crypto.js';

/** An X25519 key pair, fresh for every round. */
export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Raw X25519 output with one peer's public key. */
export type Agreement = (peerPublicKey: Uint8Array) => Uint8Array;

/**
 * X25519 key generation and agreement. Agreement refuses an all-zero output: it means the peer
 * sent a low-order point, and the "secret" would be known to everyone.
 */
export interface X25519 {
  keyPair(): X25519KeyPair;
  /** Agreement of one key pair with many peers (Node builds its key object once). */
  agreement(own: X25519KeyPair): Agreement;
}

const ALL_ZERO = 'X25519 shared secret is all zero (low-order public key)';

export const tweetnaclX25519: X25519 = {
  keyPair: () => nacl.box.keyPair(),
  agreement: (own) => (peerPublicKey) => {
    const shared = nacl.scalarMult(own.secretKey, peerPublicKey);
    if (isAllZero(shared)) throw new Error(ALL_ZERO);
    return shared;
  },
};

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** OpenSSL's X25519, about 14x faster than pure JS; OpenSSL itself fails on an all-zero output. */
export function nodeX25519(crypto: NodeCryptoModule): X25519 {
  return {
    keyPair: () => {
      const jwk = crypto.generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' });
      return { publicKey: fromBase64url(jwk.x!), secretKey: fromBase64url(jwk.d!) };
    },
    agreement: (own) => {
      const privateKey = crypto.createPrivateKey({
        key: { kty: 'OKP', crv: 'X25519', d: base64url(own.secretKey), x: base64url(own.publicKey) },
        format: 'jwk',
      });
      return (peerPublicKey) => {
        if (peerPublicKey.length !== 32)
          throw new Error(`X25519 public key must be 32 bytes, got ${peerPublicKey.length}`);
        const publicKey = crypto.createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: base64url(peerPublicKey) },
          format: 'jwk',
        });
        let shared: Uint8Array;
        try {
          shared = new Uint8Array(crypto.diffieHellman({ privateKey, publicKey }));
        } catch {
          throw new Error(ALL_ZERO);
        }
        if (isAllZero(shared)) throw new Error(ALL_ZERO);
        return shared;
      };
    },
  };
}

let selected: X25519 | undefined;

export function defaultX25519(): X25519 {
  if (!selected) {
    const nodeCrypto = nodeCryptoModule();
    selected = nodeCrypto ? nodeX25519(nodeCrypto) : tweetnaclX25519;
  }
  return selected;
}

/** The public key of a secret key, to check a secret key rebuilt from shares. */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return nacl.scalarMult.base(secretKey);
}

/** XSalsa20-Poly1305 (nacl.box with a precomputed key) under a random nonce. */
export function seal(plaintext: Uint8Array, key: Uint8Array): Uint8Array {
  const nonce = randomBytes(nacl.box.nonceLength);
  return concatBytes([nonce, nacl.box.after(plaintext, nonce, key)]);
}

/** Opens a seal() box; undefined when it was made under another key or altered. */
export function open(sealed: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  if (sealed.length < nacl.box.nonceLength + nacl.box.overheadLength) return undefined;
  const nonce = sealed.subarray(0, nacl.box.nonceLength);
  return nacl.box.open.after(sealed.subarray(nacl.box.nonceLength), nonce, key) ?? undefined;
}
