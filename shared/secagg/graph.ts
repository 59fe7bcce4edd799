import nacl from 'tweetnacl';
import { concatBytes, uint64 } from './bytes.js';

/**
 * SecAgg+'s communication graph: a random Harary graph H(k, n). Clients sit on a ring in an
 * order drawn from the round's seed, and each is a neighbour of its k/2 predecessors and k/2
 * successors. k = n - 1 is the complete graph (original SecAgg, all-to-all).
 */
export type NeighbourGraph = ReadonlyMap<string, readonly string[]>;

/** Deterministic uniform integers from SHA-512 in counter mode: anyone with the seed agrees. */
class SeededStream {
  private block: Uint32Array = new Uint32Array(0);
  private used = 0;
  private counter = 0;

  constructor(private readonly seed: Uint8Array) {}

  private nextWord(): number {
    if (this.used === this.block.length) {
      const digest = nacl.hash(concatBytes([this.seed, uint64(this.counter++)]));
      this.block = new Uint32Array(digest.buffer, digest.byteOffset, 16);
      this.used = 0;
    }
    return this.block[this.used++];
  }

  /** Uniform in [0, bound), by rejection so that no value is favoured. */
  below(bound: number): number {
    const limit = Math.floor(2 ** 32 / bound) * bound;
    for (;;) {
      const word = this.nextWord();
      if (word < limit) return word % bound;
    }
  }
}

export function checkGraphDegree(n: number, k: number): void {
  if (!Number.isSafeInteger(k) || k < 2 || k > n - 1)
    throw new Error(`graph degree k must be an integer in [2, ${n - 1}] for ${n} clients, got ${k}`);
  if (k < n - 1 && k % 2 !== 0)
    throw new Error(`graph degree k must be even unless it is n - 1 (all-to-all), got ${k} for ${n} clients`);
}

/** Neighbours of every client, each list in ring order; symmetric and k-regular. */
export function neighbourGraph(ids: readonly string[], k: number, seed: Uint8Array): NeighbourGraph {
  const n = ids.length;
  if (new Set(ids).size !== n) throw new Error('client ids must be unique');
  checkGraphDegree(n, k);
  const ring = [...ids].sort();
  const stream = new SeededStream(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = stream.below(i + 1);
    [ring[i], ring[j]] = [ring[j], ring[i]];
  }
  const graph = new Map<string, string[]>();
  if (k === n - 1) {
    for (const id of ring)
      graph.set(
        id,
        ring.filter((other) => other !== id),
      );
    return graph;
  }
  const half = k / 2;
  ring.forEach((id, pos) => {
    const neighbours: string[] = [];
    for (let d = -half; d <= half; d++) if (d !== 0) neighbours.push(ring[(pos + d + n) % n]);
    graph.set(id, neighbours);
  });
  return graph;
}
