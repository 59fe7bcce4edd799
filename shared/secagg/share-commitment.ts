import { bytesEqual, concatBytes, lengthPrefixed, lengthPrefixedText } from './bytes.js';
import { sha512Half } from './hash.js';
import { LABELS } from './kdf.js';

/**
 * A client's commitment to every Shamir share it deals, signed once inside its advertisement:
 * a Merkle root over its neighbours (sorted by id), each neighbour's node hashing the two shares
 * dealt to it. A share then carries the hashes that lead from it to the root, so its recipient
 * checks it on arrival and the coordinator can tell, when a rebuilt secret is wrong, whether the
 * revealer altered a share (its path fails) or the dealer dealt bad ones (every path holds).
 * One signature per client per round instead of one per share: the shares are dealt, and the
 * root fixed, before the advertisement is signed.
 */

export type ShareKind = 'self-mask-seed' | 'masking-key';

const HASH_BYTES = 32;
/** Padding for the nodes past the last neighbour, up to a power of two. */
const EMPTY = new Uint8Array(HASH_BYTES);
const PAIR = Uint8Array.of(1);
const INNER = Uint8Array.of(2);

const LEAF_LABEL = lengthPrefixedText(LABELS.shareLeaf);
const KIND_FIELD: Record<ShareKind, Uint8Array> = {
  'self-mask-seed': lengthPrefixedText('self-mask-seed'),
  'masking-key': lengthPrefixedText('masking-key'),
};

function leaf(to: string, kind: ShareKind, share: Uint8Array): Uint8Array {
  return sha512Half([LEAF_LABEL, lengthPrefixedText(to), KIND_FIELD[kind], lengthPrefixed(share)]);
}

function pairNode(seedLeaf: Uint8Array, keyLeaf: Uint8Array): Uint8Array {
  return sha512Half([PAIR, seedLeaf, keyLeaf]);
}

function inner(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha512Half([INNER, left, right]);
}

/** Levels of the tree above the neighbours' nodes: the path length, the same for every neighbour. */
export function commitmentDepth(neighbours: number): number {
  if (!Number.isSafeInteger(neighbours) || neighbours < 1)
    throw new Error(`a share commitment needs at least one neighbour, got ${neighbours}`);
  return Math.ceil(Math.log2(neighbours));
}

/** Bytes of the proof a revealed share carries: the other share's leaf, then the path. */
export function revealProofBytes(neighbours: number): number {
  return HASH_BYTES * (1 + commitmentDepth(neighbours));
}

export interface DealtShares {
  /** Sorted by id: a neighbour's position is its place in the tree. */
  to: readonly string[];
  selfMaskSeed: readonly Uint8Array[];
  maskingKey: readonly Uint8Array[];
}

export interface ShareCommitment {
  root: Uint8Array;
  /** Per neighbour, in `to` order: the path from its node to the root, concatenated. */
  paths: Uint8Array[];
}

export function commitShares(dealt: DealtShares): ShareCommitment {
  const n = dealt.to.length;
  const depth = commitmentDepth(n);
  let level = dealt.to.map((to, i) =>
    pairNode(leaf(to, 'self-mask-seed', dealt.selfMaskSeed[i]), leaf(to, 'masking-key', dealt.maskingKey[i])),
  );
  while (level.length < 2 ** depth) level.push(EMPTY);
  const paths: Uint8Array[][] = dealt.to.map(() => []);
  for (let d = 0; d < depth; d++) {
    for (let i = 0; i < n; i++) paths[i].push(level[(i >> d) ^ 1]);
    const next: Uint8Array[] = [];
    for (let j = 0; j < level.length; j += 2) next.push(inner(level[j], level[j + 1]));
    level = next;
  }
  return { root: level[0], paths: paths.map(concatBytes) };
}

function rootFrom(node: Uint8Array, index: number, path: Uint8Array): Uint8Array {
  for (let d = 0; d * HASH_BYTES < path.length; d++) {
    const sibling = path.subarray(d * HASH_BYTES, (d + 1) * HASH_BYTES);
    node = (index >> d) & 1 ? inner(sibling, node) : inner(node, sibling);
  }
  return node;
}

/** Where `to` sits in the tree of a dealer with these neighbours; -1 when it is not one. */
export function neighbourIndex(dealerNeighbours: readonly string[], to: string): number {
  // Its rank in the sorted list, counted without sorting (a client places k dealers per round).
  let below = 0;
  let found = false;
  for (const v of dealerNeighbours) {
    if (v === to) found = true;
    else if (v < to) below++;
  }
  return found ? below : -1;
}

/** Both shares dealt to neighbour `index` (`to`), checked against the dealer's root. */
export function pairMatches(
  root: Uint8Array,
  neighbours: number,
  index: number,
  to: string,
  seedShare: Uint8Array,
  keyShare: Uint8Array,
  path: Uint8Array,
): boolean {
  if (index < 0 || index >= neighbours || path.length !== HASH_BYTES * commitmentDepth(neighbours)) return false;
  return bytesEqual(
    rootFrom(pairNode(leaf(to, 'self-mask-seed', seedShare), leaf(to, 'masking-key', keyShare)), index, path),
    root,
  );
}

/** What a revealer sends with one share: the other share's leaf (the other share stays secret) and the path. */
export function revealProof(to: string, kind: ShareKind, otherShare: Uint8Array, path: Uint8Array): Uint8Array {
  return concatBytes([leaf(to, kind === 'self-mask-seed' ? 'masking-key' : 'self-mask-seed', otherShare), path]);
}

/** One revealed share checked against the dealer's root. */
export function revealedMatches(
  root: Uint8Array,
  neighbours: number,
  index: number,
  to: string,
  kind: ShareKind,
  share: Uint8Array,
  proof: Uint8Array,
): boolean {
  if (index < 0 || index >= neighbours || proof.length !== revealProofBytes(neighbours)) return false;
  const own = leaf(to, kind, share);
  const other = proof.subarray(0, HASH_BYTES);
  const node = kind === 'self-mask-seed' ? pairNode(own, other) : pairNode(other, own);
  return bytesEqual(rootFrom(node, index, proof.subarray(HASH_BYTES)), root);
}
