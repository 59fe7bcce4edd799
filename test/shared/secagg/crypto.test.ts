import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  defaultX25519,
  nodeX25519,
  open,
  seal,
  tweetnaclX25519,
  x25519PublicKey,
} from '../../../shared/secagg/agreement.js';
import {
  generateIdentity,
  IdentityPins,
  nodeVerify,
  signAdvertisement,
  tweetnaclVerify,
  verifyAdvertisement,
  type AdvertisedKeys,
} from '../../../shared/secagg/identity.js';
import { graphSeed, LABELS, pairwiseMaskKey, selfMaskKey, shareBoxKey } from '../../../shared/secagg/kdf.js';
import { nodeCryptoModule } from '../../../shared/secagg/node-crypto.js';

/** Low-order points of Curve25519: X25519 with any of them yields all zeros. */
const LOW_ORDER = [
  '00'.repeat(32),
  '01' + '00'.repeat(31),
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
].map((h) => new Uint8Array(Buffer.from(h, 'hex')));
const backends = { tweetnacl: tweetnaclX25519, node: nodeX25519(nodeCryptoModule()!) };

describe('key agreement', () => {
  it('Node and tweetnacl X25519 agree with each other, whoever made the keys', () => {
    for (const [maker, other] of [
      [backends.node, backends.tweetnacl],
      [backends.tweetnacl, backends.node],
    ]) {
      const a = maker.keyPair();
      const b = other.keyPair();
      expect(x25519PublicKey(a.secretKey)).toEqual(a.publicKey);
      const secret = maker.agreement(a)(b.publicKey);
      expect(other.agreement(b)(a.publicKey)).toEqual(secret);
      expect(other.agreement(a)(b.publicKey)).toEqual(secret);
    }
  });

  for (const [name, x25519] of Object.entries(backends)) {
    it(`${name}: refuses an all-zero shared secret`, () => {
      const agree = x25519.agreement(x25519.keyPair());
      for (const point of LOW_ORDER) expect(() => agree(point)).toThrow(/all zero/);
    });
  }

  it('node: refuses an all-zero shared secret itself, from a crypto library that returns one rather than failing', () => {
    const crypto = nodeCryptoModule()!;
    const lax = nodeX25519({ ...crypto, diffieHellman: () => new Uint8Array(32) });
    const agree = lax.agreement(lax.keyPair());
    expect(() => agree(tweetnaclX25519.keyPair().publicKey)).toThrow(
      'X25519 shared secret is all zero (low-order public key)',
    );
  });

  it('seals shares one way: a box cannot be opened as coming from the other direction', () => {
    const secret = new Uint8Array(32).fill(5);
    const sealed = seal(new Uint8Array([1, 2, 3]), shareBoxKey(1, 'alice', 'bob', secret));
    expect(open(sealed, shareBoxKey(1, 'alice', 'bob', secret))).toEqual(new Uint8Array([1, 2, 3]));
    expect(open(sealed, shareBoxKey(1, 'bob', 'alice', secret))).toBeUndefined();
    sealed[30] ^= 1;
    expect(open(sealed, shareBoxKey(1, 'alice', 'bob', secret))).toBeUndefined();
  });

  it('uses Node X25519 by default, chosen once, and refuses a peer key that is not 32 bytes', () => {
    expect(defaultX25519()).toBe(defaultX25519());
    const a = defaultX25519().keyPair();
    const b = tweetnaclX25519.keyPair();
    expect(defaultX25519().agreement(a)(b.publicKey)).toEqual(tweetnaclX25519.agreement(b)(a.publicKey));
    expect(() => backends.node.agreement(a)(new Uint8Array(31))).toThrow('X25519 public key must be 32 bytes, got 31');
  });

  it('opens an empty box, and returns undefined (never throws) for one too short to hold a nonce and tag', () => {
    const key = new Uint8Array(32).fill(2);
    expect(open(seal(new Uint8Array(0), key), key)).toEqual(new Uint8Array(0));
    for (const length of [0, 10, 24, 39]) expect(open(new Uint8Array(length), key)).toBeUndefined();
  });

  it('derives keys as SHA-512 of the length-prefixed label, round, ids (pair in sorted order) and secret, cut to 32 bytes', () => {
    const lp = (b: Uint8Array | string) => {
      const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      return Buffer.concat([len, bytes]);
    };
    const u64 = (n: number) => {
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(BigInt(n));
      return out;
    };
    const sha = (...parts: Buffer[]) =>
      new Uint8Array(createHash('sha512').update(Buffer.concat(parts)).digest().subarray(0, 32));
    const s = new Uint8Array(32).fill(9);
    expect(pairwiseMaskKey(3, 'bob', 'alice', s)).toEqual(
      sha(lp(LABELS.pairwiseMask), u64(3), lp('alice'), lp('bob'), lp(s)),
    );
    const nonce = new Uint8Array(32).fill(6);
    expect(graphSeed(5, nonce, ['a', 'b', 'c'])).toEqual(
      sha(lp(LABELS.graph), u64(5), lp(nonce), lp('a'), lp('b'), lp('c')),
    );
  });

  it('derives mask keys that depend on every input but not on the order of the pair', () => {
    const s = new Uint8Array(32).fill(9);
    const k = pairwiseMaskKey(3, 'alice', 'bob', s);
    expect(k).toHaveLength(32);
    expect(pairwiseMaskKey(3, 'bob', 'alice', s)).toEqual(k);
    expect(pairwiseMaskKey(4, 'alice', 'bob', s)).not.toEqual(k);
    expect(pairwiseMaskKey(3, 'alice', 'carol', s)).not.toEqual(k);
    expect(pairwiseMaskKey(3, 'alice', 'bob', new Uint8Array(32).fill(8))).not.toEqual(k);
    expect(selfMaskKey(3, 'alice', s)).not.toEqual(selfMaskKey(3, 'bob', s));
    expect(() => pairwiseMaskKey(3, 'alice', 'alice', s)).toThrow(/two different clients/);
  });
});

describe('identity signatures', () => {
  const identity = generateIdentity();
  const keys: AdvertisedKeys = {
    round: 7,
    nonce: new Uint8Array(32).fill(1),
    clientId: 'alice',
    encryptionKey: backends.node.keyPair().publicKey,
    maskingKey: backends.node.keyPair().publicKey,
    digest: new Uint8Array(32).fill(3),
    seedCommitment: new Uint8Array(32).fill(4),
    shareRoot: new Uint8Array(32).fill(6),
  };
  const signature = signAdvertisement(keys, identity);
  const verifiers = { tweetnacl: tweetnaclVerify, node: nodeVerify(nodeCryptoModule()!) };

  for (const [name, verify] of Object.entries(verifiers)) {
    it(`${name}: accepts the signed keys and refuses any change`, () => {
      expect(verifyAdvertisement(keys, signature, identity.publicKey, verify)).toBe(true);
      const swapped = { ...keys, maskingKey: backends.node.keyPair().publicKey };
      expect(verifyAdvertisement(swapped, signature, identity.publicKey, verify)).toBe(false);
      expect(verifyAdvertisement({ ...keys, round: 8 }, signature, identity.publicKey, verify)).toBe(false);
      expect(verifyAdvertisement({ ...keys, clientId: 'mallory' }, signature, identity.publicKey, verify)).toBe(false);
      expect(
        verifyAdvertisement({ ...keys, digest: new Uint8Array(32).fill(5) }, signature, identity.publicKey, verify),
      ).toBe(false);
      expect(
        verifyAdvertisement(
          { ...keys, seedCommitment: new Uint8Array(32).fill(5) },
          signature,
          identity.publicKey,
          verify,
        ),
      ).toBe(false);
      expect(
        verifyAdvertisement({ ...keys, shareRoot: new Uint8Array(32).fill(7) }, signature, identity.publicKey, verify),
      ).toBe(false);
      expect(verifyAdvertisement(keys, signature, generateIdentity().publicKey, verify)).toBe(false);
      expect(verifyAdvertisement(keys, signature.subarray(0, 63), identity.publicKey, verify)).toBe(false);
      const forged = nacl.sign.detached(new Uint8Array(10), generateIdentity().secretKey);
      expect(verifyAdvertisement(keys, forged, identity.publicKey, verify)).toBe(false);
    });
  }

  it('pins identity keys on first use and reports a changed one', () => {
    const pins = new IdentityPins();
    const roster = [
      { id: 'a', identityKey: generateIdentity().publicKey },
      { id: 'b', identityKey: generateIdentity().publicKey },
    ];
    expect(pins.checkAndPin(roster)).toBeUndefined();
    expect(pins.checkAndPin([roster[0], { id: 'c', identityKey: generateIdentity().publicKey }])).toBeUndefined();
    expect(pins.checkAndPin([{ id: 'b', identityKey: generateIdentity().publicKey }])).toBe('b');
  });
});
