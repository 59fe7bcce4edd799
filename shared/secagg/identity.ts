import nacl from 'tweetnacl';
import { bytesEqual, concatBytes, lengthPrefixed, lengthPrefixedText, uint64 } from './bytes.js';
import { LABELS } from './kdf.js';
import { nodeCryptoModule, type NodeCryptoModule } from './node-crypto.js';

/** A client's long-lived Ed25519 identity, registered with the coordinator at join. */
export interface IdentityKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateIdentity(): IdentityKeyPair {
  return nacl.sign.keyPair();
}

/** The keys a client advertises for one round, as covered by its signature. */
export interface AdvertisedKeys {
  round: number;
  nonce: Uint8Array;
  clientId: string;
  encryptionKey: Uint8Array;
  maskingKey: Uint8Array;
}

function advertisementBytes(a: AdvertisedKeys): Uint8Array {
  return concatBytes([
    lengthPrefixedText(LABELS.advertise),
    uint64(a.round),
    lengthPrefixed(a.nonce),
    lengthPrefixedText(a.clientId),
    lengthPrefixed(a.encryptionKey),
    lengthPrefixed(a.maskingKey),
  ]);
}

export function signAdvertisement(a: AdvertisedKeys, identity: IdentityKeyPair): Uint8Array {
  return nacl.sign.detached(advertisementBytes(a), identity.secretKey);
}

export type Ed25519Verify = (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array) => boolean;

export const tweetnaclVerify: Ed25519Verify = (message, signature, publicKey) =>
  signature.length === nacl.sign.signatureLength &&
  publicKey.length === nacl.sign.publicKeyLength &&
  nacl.sign.detached.verify(message, signature, publicKey);

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** OpenSSL's Ed25519: about 40x faster than pure JS, which matters for a coordinator checking n keys. */
export function nodeVerify(crypto: NodeCryptoModule): Ed25519Verify {
  return (message, signature, publicKey) => {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) }, format: 'jwk' });
    return crypto.verify(null, message, key, signature);
  };
}

let selected: Ed25519Verify | undefined;

export function defaultVerify(): Ed25519Verify {
  if (!selected) {
    const nodeCrypto = nodeCryptoModule();
    selected = nodeCrypto ? nodeVerify(nodeCrypto) : tweetnaclVerify;
  }
  return selected;
}

export function verifyAdvertisement(a: AdvertisedKeys, signature: Uint8Array, identityKey: Uint8Array, verify: Ed25519Verify = defaultVerify()): boolean {
  return verify(advertisementBytes(a), signature, identityKey);
}

/**
 * Trust on first use: remembers each peer's identity key across rounds and refuses a roster
 * that changes one, which is how a coordinator swapping identities after enrolment is caught.
 */
export class IdentityPins {
  private readonly pins = new Map<string, Uint8Array>();

  /** Pins the keys of ids not seen before; returns the first id whose key changed, if any. */
  checkAndPin(participants: readonly { id: string; identityKey: Uint8Array }[]): string | undefined {
    for (const p of participants) {
      const pinned = this.pins.get(p.id);
      if (pinned && !bytesEqual(pinned, p.identityKey)) return p.id;
    }
    for (const p of participants) if (!this.pins.has(p.id)) this.pins.set(p.id, p.identityKey.slice());
    return undefined;
  }
}

