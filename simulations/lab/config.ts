import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { byzantineAttackSchema } from '../../shared/attacks/byzantine.js';
import { parseDataSpec } from '../../shared/data/data-spec.node.js';
import { parsePartitionConfig, type PartitionConfig } from '../../shared/data/partition.js';
import { TrainConfigSchema } from '../../shared/protocol/messages.js';

/**
 * A simulation lab experiment: one population of clients (data, partitions, attackers) and one
 * or more runs over it, each a fresh coordinator with its own strategy / privacy section.
 */

const jsonObject = z.record(z.string(), z.unknown());

const dataSpec = z.string().superRefine((spec, ctx) => {
  try {
    parseDataSpec(spec);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const RunSchema = z.strictObject({
  /** Name in tables, the CSV and the plot legend. */
  label: z.string().min(1).max(60),
  /** The coordinator's `strategy` section (validated by the coordinator config). */
  strategy: jsonObject.default({}),
  /** The coordinator's `privacy` section; no differential privacy when absent. */
  privacy: jsonObject.optional(),
  /** The coordinator's `compression` section (how clients encode updates); float32 when absent. */
  compression: jsonObject.optional(),
  /** Overrides of the experiment's client hyperparameters for this run. */
  training: TrainConfigSchema.omit({ seed: true, proximalMu: true }).partial().default({}),
});
export type LabRun = z.infer<typeof RunSchema>;

export const LabConfigSchema = z.strictObject({
  /** Short name: a-z, 0-9, dots and dashes. */
  name: z.string().regex(/^[a-z0-9.-]+$/, 'name uses a-z, 0-9, . and -'),
  description: z.string().default(''),
  /** Seeds partitions, attacker choice, client sampling and batch order. */
  seed: z.int().default(42),
  data: z
    .strictObject({
      /** Data spec (as the client's --data) of the examples partitioned between the clients. */
      train: dataSpec.default('mnist:0/1'),
      /** Data spec (as the coordinator's --eval) of the held-out examples scoring every round's model. */
      test: dataSpec.default('mnist:test'),
      /** Only the first n training examples (default: all). */
      trainExamples: z.int().min(1).optional(),
      /** Only the first n held-out examples (default: all). */
      testExamples: z.int().min(1).optional(),
      /** Fraction of each client's partition it keeps back for federated evaluation (0: none). */
      clientHeldOut: z.number().min(0).lt(1).default(0),
    })
    .prefault({}),
  clients: z.int().min(1).max(500),
  /** Partitioner without numPartitions (= clients) and seed (= the experiment's seed unless given). */
  partition: jsonObject,
  rounds: z.int().min(1).max(1000),
  /** Held-out accuracy to reach; the summary reports the first round that does. */
  goalAccuracy: z.number().gt(0).lte(1).optional(),
  /** Stop a run at its first round reaching goalAccuracy instead of running every round. */
  stopAtGoal: z.boolean().default(false),
  training: TrainConfigSchema.omit({ seed: true, proximalMu: true })
    .partial()
    .transform((t) => ({ epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const, ...t }))
    .prefault({}),
  byzantine: z
    .strictObject({
      /** round(fraction * clients) clients, chosen by the seed, send attacked updates. */
      fraction: z.number().min(0).max(1),
      attack: byzantineAttackSchema,
    })
    .optional(),
  /** Worker threads training the clients' jobs; default: the machine's cores. */
  workers: z.int().min(1).max(64).optional(),
  roundTimeoutMs: z.int().min(1000).default(900_000),
  runs: z.array(RunSchema).min(1),
});
export type LabConfig = z.output<typeof LabConfigSchema> & { partitionConfig: PartitionConfig };

export function parseLabConfig(raw: unknown, source: string): LabConfig {
  const result = LabConfigSchema.safeParse(raw);
  if (!result.success) throw new Error(`invalid simulation config (${source}):\n${z.prettifyError(result.error)}`);
  const config = result.data;
  const labels = config.runs.map((r) => r.label);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice) throw new Error(`invalid simulation config (${source}): run label '${twice}' is used twice`);
  if ('numPartitions' in config.partition) {
    throw new Error(
      `invalid simulation config (${source}): partition.numPartitions is always the number of clients; set clients instead`,
    );
  }
  let partitionConfig: PartitionConfig;
  try {
    partitionConfig = parsePartitionConfig({ seed: config.seed, ...config.partition, numPartitions: config.clients });
  } catch (e) {
    throw new Error(`invalid simulation config (${source}): partition: ${(e as Error).message}`);
  }
  return { ...config, partitionConfig };
}

export function readLabConfig(path: string): LabConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read simulation config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`simulation config ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseLabConfig(raw, path);
}
