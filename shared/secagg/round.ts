import { randomBytes } from './bytes.js';
import { checkEncodingParams, type EncodingParams } from './encoding.js';
import { neighbourGraph, type NeighbourGraph } from './graph.js';
import { graphSeed } from './kdf.js';
import type { SecAggSetup } from './messages.js';
import { checkThreshold, resolveGraphParams, type GraphParams, type SecAggAssumptions } from './params.js';

/** What both sides derive from a round's setup: the graph and the encoding. */
export interface DerivedSetup {
  setup: SecAggSetup;
  graph: NeighbourGraph;
  encoding: EncodingParams;
  identityKeys: ReadonlyMap<string, Uint8Array>;
}

export function roundContext(setup: SecAggSetup): DerivedSetup {
  const ids = setup.participants.map((p) => p.id);
  if (new Set(ids).size !== ids.length) throw new Error('participant ids must be unique');
  if (setup.nonce.length !== 32) throw new Error('setup nonce must be 32 bytes');
  const sorted = [...ids].sort();
  const graph = neighbourGraph(sorted, setup.k, graphSeed(setup.round, setup.nonce, sorted));
  checkThreshold(setup.k, setup.threshold);
  const encoding: EncodingParams = {
    clip: setup.clip,
    maxWeight: setup.maxWeight,
    maxClients: ids.length,
    ...(setup.wordBits ? { wordBits: setup.wordBits } : {}),
  };
  checkEncodingParams(encoding);
  return { setup, graph, encoding, identityKeys: new Map(setup.participants.map((p) => [p.id, p.identityKey])) };
}

export interface SetupOptions {
  round: number;
  participants: readonly { id: string; identityKey: Uint8Array }[];
  vectorLength: number;
  clip: number;
  maxWeight: number;
  /** 16: value words in Z_2^16 (half the bytes, coarser grid); Z_2^32 when absent. */
  wordBits?: 16;
  /** Unset fields take the defaults chosen from the number of participants. */
  graph?: Partial<GraphParams>;
  assumptions?: SecAggAssumptions;
}

/** The coordinator's side: a fresh nonce and resolved (k, threshold); validated like any setup. */
export function createSetup(o: SetupOptions): SecAggSetup {
  const { k, threshold } = resolveGraphParams(o.participants.length, o.graph, o.assumptions);
  const setup: SecAggSetup = {
    round: o.round,
    nonce: randomBytes(32),
    participants: o.participants.map((p) => ({ id: p.id, identityKey: p.identityKey })),
    k,
    threshold,
    vectorLength: o.vectorLength,
    clip: o.clip,
    maxWeight: o.maxWeight,
    ...(o.wordBits ? { wordBits: o.wordBits } : {}),
  };
  roundContext(setup);
  return setup;
}
