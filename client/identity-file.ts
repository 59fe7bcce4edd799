import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import type { IdentityKeyPair } from '../shared/secagg/index.js';

/**
 * A client's Ed25519 identity kept in a file (Node only), so a restarted client comes back with
 * the key its peers pinned and the coordinator registered. The file holds the 32-byte seed as
 * hex, readable by its owner only; it is created on first use.
 */
export function loadOrCreateIdentity(path: string): IdentityKeyPair {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text))
      throw new Error(`identity file ${path} must hold a 32-byte Ed25519 seed as 64 hex digits`);
    return nacl.sign.keyPair.fromSeed(Uint8Array.from(Buffer.from(text, 'hex')));
  }
  const seed = nacl.randomBytes(32);
  writeFileSync(path, `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return nacl.sign.keyPair.fromSeed(seed);
}
