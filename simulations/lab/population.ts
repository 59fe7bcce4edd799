import { loadDataSpec } from '../../shared/data/data-spec.node.js';
import { splitHeldOut } from '../../client/held-out-split.js';
import { chooseByzantineClients, createAttack, type ByzantineAttack } from '../../shared/attacks/byzantine.js';
import { subset, type Dataset } from '../../shared/data/dataset.js';
import { classCounts, partitionIndices } from '../../shared/data/partition.js';
import { deriveSeed } from '../../shared/random-distributions.js';
import type { LabConfig } from './config.js';

/** One simulated client: its private partition, optional held-out split, and whether it attacks. */
export interface SimClient {
  id: string;
  index: number;
  train: Dataset;
  heldOut: Dataset | undefined;
  attack: ByzantineAttack | undefined;
  /** Examples per class of the whole partition (train + held out). */
  classCounts: Int32Array;
}

export interface Population {
  clients: SimClient[];
  /** The coordinator's held-out examples (centralized evaluation). */
  test: Dataset;
  /** Training examples partitioned between the clients. */
  trainExamples: number;
}

/** The first n examples (all when n is undefined); more than the source holds is an error naming it. */
function prefix(ds: Dataset, n: number | undefined, what: string, spec: string): Dataset {
  if (n === undefined) return ds;
  if (n > ds.n) throw new Error(`data.${what}Examples is ${n} but ${spec} holds ${ds.n} examples`);
  return subset(
    ds,
    Int32Array.from({ length: n }, (_, i) => i),
  );
}

// Separate seed streams, so changing one choice does not reshuffle the others.
const HELD_OUT_STREAM = 0x686f;
const ATTACKER_STREAM = 0x6279;

/** Everything about the clients that the config and seed decide; the same config gives the same population. */
export async function buildPopulation(config: LabConfig): Promise<Population> {
  const train = prefix(await loadDataSpec(config.data.train), config.data.trainExamples, 'train', config.data.train);
  const test = prefix(await loadDataSpec(config.data.test), config.data.testExamples, 'test', config.data.test);
  const parts = partitionIndices(train.y, train.numClasses, config.partitionConfig);
  const attackers = config.byzantine
    ? new Set(
        chooseByzantineClients(config.clients, config.byzantine.fraction, deriveSeed(config.seed, ATTACKER_STREAM)),
      )
    : new Set<number>();
  const width = String(config.clients - 1).length;
  const clients = parts.map((idx, i): SimClient => {
    if (idx.length === 0)
      throw new Error(`client ${i} got an empty partition; use fewer clients or another partitioner`);
    const data = subset(train, idx);
    const { train: own, heldOut } =
      config.data.clientHeldOut > 0
        ? splitHeldOut(data, config.data.clientHeldOut, deriveSeed(deriveSeed(config.seed, HELD_OUT_STREAM), i))
        : { train: data, heldOut: undefined };
    const attack =
      config.byzantine && attackers.has(i)
        ? createAttack(config.byzantine.attack, deriveSeed(config.seed, i))
        : undefined;
    return {
      id: `sim-${String(i).padStart(width, '0')}`,
      index: i,
      train: own,
      heldOut: heldOut && heldOut.n > 0 ? heldOut : undefined,
      attack,
      classCounts: classCounts(train.y, idx, train.numClasses),
    };
  });
  return { clients, test, trainExamples: train.n };
}
