import nacl from 'tweetnacl';
import type { IdentityKeyPair } from '../../shared/secagg/index.js';

/**
 * A named browser client's Ed25519 identity, kept in the page's localStorage so a reloaded page
 * comes back with the key the coordinator bound to its name (and its peers pinned): the browser
 * counterpart of client/identity-file.ts. Each coordinator origin and client name has its own
 * 32-byte seed, stored as hex and created on first use.
 */

/** The part of the Web Storage API used here. */
export type SeedStorage = Pick<Storage, 'getItem' | 'setItem'>;

/** Where the seed of `name` on `coordinator` lives; an origin never contains a space. */
export function identityStorageKey(coordinator: string, name: string): string {
  return `fedserve.identity ${new URL(coordinator).origin} ${name}`;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));
}

export function loadOrCreatePageIdentity(storage: SeedStorage, coordinator: string, name: string): IdentityKeyPair {
  if (!name)
    throw new Error(
      'only a named client keeps its identity: the coordinator gives unnamed ones a fresh id per connection',
    );
  const key = identityStorageKey(coordinator, name);
  const stored = storage.getItem(key);
  if (stored !== null) {
    // Replacing a damaged seed would only get the name refused: the coordinator holds the old key.
    if (!/^[0-9a-f]{64}$/.test(stored))
      throw new Error(`localStorage '${key}' must hold a 32-byte Ed25519 seed as 64 hex digits`);
    return nacl.sign.keyPair.fromSeed(fromHex(stored));
  }
  const seed = nacl.randomBytes(32);
  storage.setItem(key, toHex(seed));
  return nacl.sign.keyPair.fromSeed(seed);
}
