import { describe, expect, it } from 'vitest';
import {
  identityStorageKey,
  loadOrCreatePageIdentity,
  type SeedStorage,
} from '../../../client/browser/page-identity.js';
import { signAdvertisement, verifyAdvertisement } from '../../../shared/secagg/identity.js';

/** localStorage as a map, with its contents open to the test. */
function memoryStorage(): SeedStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) };
}

const COORDINATOR = 'http://127.0.0.1:8080';

describe('page identity', () => {
  it('creates the identity on first use and gives the same one back afterwards', () => {
    const storage = memoryStorage();
    const first = loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-3');
    expect([...storage.items.keys()]).toEqual([identityStorageKey(COORDINATOR, 'ward-3')]);
    expect(storage.items.get(identityStorageKey(COORDINATOR, 'ward-3'))).toMatch(/^[0-9a-f]{64}$/);
    const again = loadOrCreatePageIdentity(storage, `${COORDINATOR}/client?token=x`, 'ward-3');
    expect(again.publicKey).toEqual(first.publicKey);
    expect(again.secretKey).toEqual(first.secretKey);
  });

  it('keeps one identity per client name and per coordinator', () => {
    const storage = memoryStorage();
    const keys = [
      loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-3'),
      loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-4'),
      loadOrCreatePageIdentity(storage, 'http://127.0.0.1:9090', 'ward-3'),
    ].map((k) => Buffer.from(k.publicKey).toString('hex'));
    expect(new Set(keys).size).toBe(3);
    expect(storage.items.size).toBe(3);
  });

  it('rebuilds a key pair that signs what its public key verifies', () => {
    const storage = memoryStorage();
    loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-3');
    const identity = loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-3');
    const keys = {
      round: 1,
      nonce: new Uint8Array(16),
      clientId: 'ward-3',
      encryptionKey: new Uint8Array(32).fill(1),
      maskingKey: new Uint8Array(32).fill(2),
      digest: new Uint8Array(32).fill(3),
      seedCommitment: new Uint8Array(32).fill(4),
      shareRoot: new Uint8Array(32).fill(5),
    };
    expect(verifyAdvertisement(keys, signAdvertisement(keys, identity), identity.publicKey)).toBe(true);
  });

  it('refuses a damaged seed rather than replacing the key the coordinator bound', () => {
    const storage = memoryStorage();
    storage.items.set(identityStorageKey(COORDINATOR, 'ward-3'), 'not hex');
    expect(() => loadOrCreatePageIdentity(storage, COORDINATOR, 'ward-3')).toThrow(
      /localStorage 'fedserve.identity http:\/\/127.0.0.1:8080 ward-3' must hold a 32-byte Ed25519 seed/,
    );
    expect(storage.items.get(identityStorageKey(COORDINATOR, 'ward-3'))).toBe('not hex');
  });

  it('does not keep identities for unnamed clients', () => {
    expect(() => loadOrCreatePageIdentity(memoryStorage(), COORDINATOR, '')).toThrow(/only a named client/);
  });
});
