import nacl from 'tweetnacl';
import { base64url, bytesEqual, concatBytes, lengthPrefixed, lengthPrefixedText, uint64 } from './bytes.js';
import { sha512Half } from './hash.js';
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

/** The keys a client advertises for one round, and what it commits to, as covered by its signature. */
export interface AdvertisedKeys {
  round: number;
  nonce: Uint8Array;
  clientId: string;
  encryptionKey: Uint8Array;
  maskingKey: Uint8Array;
  /** Digest of everything the round's update depends on (model, config, roster): neighbours compare it. */
  digest: Uint8Array;
  /** Commitment to the self-mask seed: a bad share of it is caught at unmask. */
  seedCommitment: Uint8Array;
  /** Merkle root over every share this client dealt (share-commitment.ts): a share is bound to its dealer by this one signature. */
  shareRoot: Uint8Array;
}

function advertisementBytes(a: AdvertisedKeys): Uint8Array {
  return concatBytes([
    lengthPrefixedText(LABELS.advertise),
    uint64(a.round),
    lengthPrefixed(a.nonce),
    lengthPrefixedText(a.clientId),
    lengthPrefixed(a.encryptionKey),
    lengthPrefixed(a.maskingKey),
    lengthPrefixed(a.digest),
    lengthPrefixed(a.seedCommitment),
    lengthPrefixed(a.shareRoot),
  ]);
}

/** The consistency round's statement: the one survivor set a client agrees to unmask for. */
export interface SurvivorStatement {
  round: number;
  nonce: Uint8Array;
  digest: Uint8Array;
  /** Sorted, unique. */
  survivors: readonly string[];
}

function survivorBytes(s: SurvivorStatement): Uint8Array {
  return concatBytes([
    lengthPrefixedText(LABELS.survivors),
    uint64(s.round),
    lengthPrefixed(s.nonce),
    lengthPrefixed(s.digest),
    uint64(s.survivors.length),
    ...s.survivors.map(lengthPrefixedText),
  ]);
}

/** Commitment to a self-mask seed, bound to its owner and round. */
export function seedCommitment(round: number, nonce: Uint8Array, clientId: string, seed: Uint8Array): Uint8Array {
  return sha512Half([
    lengthPrefixedText(LABELS.seedCommitment),
    uint64(round),
    lengthPrefixed(nonce),
    lengthPrefixedText(clientId),
    lengthPrefixed(seed),
  ]).slice();
}

export type Ed25519Sign = (message: Uint8Array, identity: IdentityKeyPair) => Uint8Array;
export type Ed25519Verify = (message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array) => boolean;

export const tweetnaclSign: Ed25519Sign = (message, identity) => nacl.sign.detached(message, identity.secretKey);

export const tweetnaclVerify: Ed25519Verify = (message, signature, publicKey) =>
  signature.length === nacl.sign.signatureLength &&
  publicKey.length === nacl.sign.publicKeyLength &&
  nacl.sign.detached.verify(message, signature, publicKey);

/** OpenSSL's Ed25519: about 100x faster than pure JS. */
export function nodeSign(crypto: NodeCryptoModule): Ed25519Sign {
  const keys = new WeakMap<Uint8Array, ReturnType<NodeCryptoModule['createPrivateKey']>>();
  return (message, identity) => {
    let key = keys.get(identity.secretKey);
    if (!key) {
      // tweetnacl's 64-byte secret key is the 32-byte seed followed by the public key.
      key = crypto.createPrivateKey({
        key: {
          kty: 'OKP',
          crv: 'Ed25519',
          d: base64url(identity.secretKey.subarray(0, 32)),
          x: base64url(identity.publicKey),
        },
        format: 'jwk',
      });
      keys.set(identity.secretKey, key);
    }
    return new Uint8Array(crypto.sign(null, message, key));
  };
}

/** Public key objects kept per key: building one from JWK costs as much as the verification itself. */
const PUBLIC_KEY_CACHE = 4096;

/** OpenSSL's Ed25519: about 40x faster than pure JS, which matters for a coordinator checking n keys. */
export function nodeVerify(crypto: NodeCryptoModule): Ed25519Verify {
  const keys = new Map<string, ReturnType<NodeCryptoModule['createPublicKey']>>();
  return (message, signature, publicKey) => {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    const x = base64url(publicKey);
    let key = keys.get(x);
    if (!key) {
      key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      if (keys.size >= PUBLIC_KEY_CACHE) keys.delete(keys.keys().next().value!);
      keys.set(x, key);
    }
    return crypto.verify(null, message, key, signature);
  };
}

let selectedVerify: Ed25519Verify | undefined;
let selectedSign: Ed25519Sign | undefined;

export function defaultVerify(): Ed25519Verify {
  if (!selectedVerify) {
    const nodeCrypto = nodeCryptoModule();
    selectedVerify = nodeCrypto ? nodeVerify(nodeCrypto) : tweetnaclVerify;
  }
  return selectedVerify;
}

export function defaultSign(): Ed25519Sign {
  if (!selectedSign) {
    const nodeCrypto = nodeCryptoModule();
    selectedSign = nodeCrypto ? nodeSign(nodeCrypto) : tweetnaclSign;
  }
  return selectedSign;
}

export function signAdvertisement(
  a: AdvertisedKeys,
  identity: IdentityKeyPair,
  sign: Ed25519Sign = defaultSign(),
): Uint8Array {
  return sign(advertisementBytes(a), identity);
}

export function verifyAdvertisement(
  a: AdvertisedKeys,
  signature: Uint8Array,
  identityKey: Uint8Array,
  verify: Ed25519Verify = defaultVerify(),
): boolean {
  return verify(advertisementBytes(a), signature, identityKey);
}

/** A statement is checked against t or more signatures: its bytes (n ids long) are encoded once. */
const encodedSurvivors = new WeakMap<SurvivorStatement, Uint8Array>();

function survivorBytesOnce(s: SurvivorStatement): Uint8Array {
  let bytes = encodedSurvivors.get(s);
  if (!bytes) encodedSurvivors.set(s, (bytes = survivorBytes(s)));
  return bytes;
}

export function signSurvivors(
  s: SurvivorStatement,
  identity: IdentityKeyPair,
  sign: Ed25519Sign = defaultSign(),
): Uint8Array {
  return sign(survivorBytesOnce(s), identity);
}

export function verifySurvivors(
  s: SurvivorStatement,
  signature: Uint8Array,
  identityKey: Uint8Array,
  verify: Ed25519Verify = defaultVerify(),
): boolean {
  return verify(survivorBytesOnce(s), signature, identityKey);
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
