import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  IdentityPins,
  defaultSign,
  defaultVerify,
  nodeSign,
  nodeVerify,
  seedCommitment,
  signAdvertisement,
  signSurvivors,
  tweetnaclSign,
  tweetnaclVerify,
  verifyAdvertisement,
  verifySurvivors,
  type AdvertisedKeys,
  type IdentityKeyPair,
  type SurvivorStatement,
} from '../../../shared/secagg/identity.js';
import { LABELS } from '../../../shared/secagg/kdf.js';
import { nodeCryptoModule } from '../../../shared/secagg/node-crypto.js';

const crypto = nodeCryptoModule()!;
const fromSeed = (fill: number): IdentityKeyPair => nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(fill));
// Seed 0xfb encodes with '+' and '/' in base64; seed 2's public key does: base64url must map both.
const identities = [fromSeed(0xfb), fromSeed(2), nacl.sign.keyPair()];
const verifiers = { tweetnacl: tweetnaclVerify, node: nodeVerify(crypto), default: defaultVerify() };
const signers = { tweetnacl: tweetnaclSign, node: nodeSign(crypto), default: defaultSign() };
const message = new TextEncoder().encode('a message');

describe('Ed25519 backends', () => {
  it('sign identically (Ed25519 is deterministic), key after key with one signer', () => {
    for (const [name, sign] of Object.entries(signers)) {
      for (const identity of [...identities, identities[0]]) {
        expect(Buffer.from(sign(message, identity)).toString('hex'), name).toBe(
          Buffer.from(nacl.sign.detached(message, identity.secretKey)).toString('hex'),
        );
      }
    }
  });

  it('verify key after key with one verifier, and refuse another key or message', () => {
    for (const [name, verify] of Object.entries(verifiers)) {
      for (const identity of [...identities, identities[0]]) {
        const signature = nacl.sign.detached(message, identity.secretKey);
        expect(verify(message, signature, identity.publicKey), name).toBe(true);
        expect(verify(message, signature, identities[identity === identities[1] ? 0 : 1].publicKey), name).toBe(false);
        expect(verify(message.subarray(1), signature, identity.publicKey), name).toBe(false);
      }
    }
  });

  it('refuse a signature or key of the wrong length without throwing', () => {
    const { publicKey, secretKey } = identities[0];
    const signature = nacl.sign.detached(message, secretKey);
    for (const [name, verify] of Object.entries(verifiers)) {
      for (const [sig, key] of [
        [signature.subarray(0, 63), publicKey],
        [Uint8Array.from([...signature, 0]), publicKey],
        [signature, publicKey.subarray(0, 31)],
        [signature, Uint8Array.from([...publicKey, 0])],
      ]) {
        expect(verify(message, sig, key), name).toBe(false);
      }
    }
  });
});

describe('nodeVerify', () => {
  it('refuses a signature or key of the wrong length itself, before a library that would accept it sees them', () => {
    const { publicKey, secretKey } = identities[0];
    const signature = nacl.sign.detached(message, secretKey);
    const lax = nodeVerify({ ...crypto, verify: () => true });
    expect(lax(message, signature, publicKey)).toBe(true);
    expect(lax(message, signature.subarray(0, 63), publicKey)).toBe(false);
    expect(lax(message, Uint8Array.from([...signature, 0]), publicKey)).toBe(false);
    expect(lax(message, signature, publicKey.subarray(0, 31))).toBe(false);
  });
});

describe('seedCommitment', () => {
  it('hashes the framed label, round, nonce, owner and seed (first 32 bytes of SHA-512)', () => {
    const nonce = new Uint8Array(32).fill(1);
    const seed = new Uint8Array(32).fill(2);
    const framed = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const round = Buffer.alloc(8);
    round.writeBigUInt64BE(5n);
    const expected = createHash('sha512')
      .update(
        Buffer.concat([
          framed(Buffer.from(LABELS.seedCommitment)),
          round,
          framed(Buffer.from(nonce)),
          framed(Buffer.from('alice')),
          framed(Buffer.from(seed)),
        ]),
      )
      .digest()
      .subarray(0, 32);
    const got = seedCommitment(5, nonce, 'alice', seed);
    expect(got.length).toBe(32);
    // Its own 32 bytes: a transport that sends the whole buffer must not carry the other half of the hash.
    expect(got.buffer.byteLength).toBe(32);
    expect(Buffer.from(got).equals(expected)).toBe(true);
  });
});

describe('advertisement signatures', () => {
  const identity = identities[2];
  const keys: AdvertisedKeys = {
    round: 3,
    nonce: new Uint8Array(32).fill(1),
    clientId: 'alice',
    encryptionKey: new Uint8Array(32).fill(2),
    maskingKey: new Uint8Array(32).fill(3),
    digest: new Uint8Array(32).fill(4),
    seedCommitment: new Uint8Array(32).fill(5),
    shareRoot: new Uint8Array(32).fill(6),
  };

  it('is refused when the nonce or the encryption key is swapped (the other fields: crypto.test.ts)', () => {
    const signature = signAdvertisement(keys, identity);
    expect(verifyAdvertisement(keys, signature, identity.publicKey)).toBe(true);
    expect(verifyAdvertisement({ ...keys, nonce: new Uint8Array(32).fill(9) }, signature, identity.publicKey)).toBe(
      false,
    );
    expect(
      verifyAdvertisement({ ...keys, encryptionKey: new Uint8Array(32).fill(9) }, signature, identity.publicKey),
    ).toBe(false);
  });

  it('signs with the signer it is given', () => {
    const seen: Uint8Array[] = [];
    const recording = (m: Uint8Array, id: IdentityKeyPair) => (seen.push(m), tweetnaclSign(m, id));
    const signature = signAdvertisement(keys, identity, recording);
    expect(seen).toHaveLength(1);
    expect(verifyAdvertisement(keys, signature, identity.publicKey, tweetnaclVerify)).toBe(true);
  });
});

describe('survivor statements', () => {
  const identity = identities[0];
  const statement: SurvivorStatement = {
    round: 7,
    nonce: new Uint8Array(32).fill(1),
    digest: new Uint8Array(32).fill(2),
    survivors: ['a', 'bc', 'd'],
  };

  for (const [name, verify] of Object.entries(verifiers)) {
    it(`${name}: a signed statement verifies, also as an equal copy, and any change is refused`, () => {
      const signature = signSurvivors(statement, identity);
      expect(verifySurvivors(statement, signature, identity.publicKey, verify)).toBe(true);
      expect(verifySurvivors({ ...statement }, signature, identity.publicKey, verify)).toBe(true);
      for (const changed of [
        { round: 8 },
        { nonce: new Uint8Array(32).fill(9) },
        { digest: new Uint8Array(32).fill(9) },
        { survivors: ['a', 'bc'] },
        { survivors: ['a', 'bc', 'd', 'e'] },
        // The same characters split otherwise: ids are framed one by one.
        { survivors: ['ab', 'c', 'd'] },
        { survivors: ['abcd'] },
        { survivors: ['d', 'bc', 'a'] },
      ]) {
        expect(verifySurvivors({ ...statement, ...changed }, signature, identity.publicKey, verify)).toBe(false);
      }
      expect(verifySurvivors(statement, signature, identities[1].publicKey, verify)).toBe(false);
    });
  }

  it('signs with the signer it is given', () => {
    const signature = signSurvivors({ ...statement }, identity, signers.node);
    expect(verifySurvivors({ ...statement }, signature, identity.publicKey, tweetnaclVerify)).toBe(true);
  });
});

describe('IdentityPins', () => {
  it('pins nothing from a roster it refuses', () => {
    const pins = new IdentityPins();
    expect(pins.checkAndPin([{ id: 'b', identityKey: identities[0].publicKey }])).toBeUndefined();
    expect(
      pins.checkAndPin([
        { id: 'd', identityKey: identities[1].publicKey },
        { id: 'b', identityKey: identities[2].publicKey },
      ]),
    ).toBe('b');
    // d was not pinned: another key for it is its first.
    expect(pins.checkAndPin([{ id: 'd', identityKey: identities[2].publicKey }])).toBeUndefined();
    expect(pins.checkAndPin([{ id: 'd', identityKey: identities[1].publicKey }])).toBe('d');
  });

  it('compares key bytes, and keeps its own copy of a pinned key', () => {
    const pins = new IdentityPins();
    const key = identities[0].publicKey.slice();
    expect(pins.checkAndPin([{ id: 'a', identityKey: key }])).toBeUndefined();
    expect(pins.checkAndPin([{ id: 'a', identityKey: identities[0].publicKey.slice() }])).toBeUndefined();
    // The caller reuses its buffer: the pin still holds the key first seen.
    key.set(identities[1].publicKey);
    expect(pins.checkAndPin([{ id: 'a', identityKey: key }])).toBe('a');
    expect(pins.checkAndPin([{ id: 'a', identityKey: identities[0].publicKey }])).toBeUndefined();
  });
});
