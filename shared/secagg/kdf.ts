import { lengthPrefixed, lengthPrefixedText, uint64 } from './bytes.js';
import { sha512Half } from './hash.js';

/**
 * Key derivation: SHA-512 over a domain label, the round, both client ids in a fixed order and
 * the secret, truncated to 32 bytes. Labels keep keys for different purposes independent even
 * when the secret is the same.
 */
export const LABELS = {
  pairwiseMask: 'fedserve/secagg/v1/pairwise-mask',
  selfMask: 'fedserve/secagg/v1/self-mask',
  shareBox: 'fedserve/secagg/v1/share-box',
  graph: 'fedserve/secagg/v1/graph',
  advertise: 'fedserve/secagg/v3/advertise',
  shareLeaf: 'fedserve/secagg/v3/share-leaf',
  survivors: 'fedserve/secagg/v2/survivors',
  seedCommitment: 'fedserve/secagg/v2/seed-commitment',
  task: 'fedserve/secagg/v2/task',
} as const;

/** Key of the pairwise mask between `a` and `b` (same key whichever of the two derives it). */
export function pairwiseMaskKey(round: number, a: string, b: string, sharedSecret: Uint8Array): Uint8Array {
  if (a === b) throw new Error(`a pairwise mask needs two different clients, got '${a}' twice`);
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return sha512Half([
    lengthPrefixedText(LABELS.pairwiseMask),
    uint64(round),
    lengthPrefixedText(lo),
    lengthPrefixedText(hi),
    lengthPrefixed(sharedSecret),
  ]);
}

/**
 * Key sealing the shares `sender` sends to `recipient`. The order matters: the box back the
 * other way has another key, so the coordinator cannot reflect a box to its author.
 */
export function shareBoxKey(round: number, sender: string, recipient: string, sharedSecret: Uint8Array): Uint8Array {
  return sha512Half([
    lengthPrefixedText(LABELS.shareBox),
    uint64(round),
    lengthPrefixedText(sender),
    lengthPrefixedText(recipient),
    lengthPrefixed(sharedSecret),
  ]);
}

/** Key of client `id`'s self mask, from its secret seed b_u. */
export function selfMaskKey(round: number, id: string, seed: Uint8Array): Uint8Array {
  return sha512Half([
    lengthPrefixedText(LABELS.selfMask),
    uint64(round),
    lengthPrefixedText(id),
    lengthPrefixedText(id),
    lengthPrefixed(seed),
  ]);
}

/** Seed of the round's neighbour graph: binds the round, the coordinator's nonce and the roster. */
export function graphSeed(round: number, nonce: Uint8Array, sortedIds: readonly string[]): Uint8Array {
  return sha512Half([
    lengthPrefixedText(LABELS.graph),
    uint64(round),
    lengthPrefixed(nonce),
    ...sortedIds.map(lengthPrefixedText),
  ]);
}
