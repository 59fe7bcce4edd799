import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lineLogger } from '../server/logger.js';
import { CheckpointStore } from '../server/store/checkpoint-store.js';
import { EXPORT_USAGE } from './export-usage.js';
import {
  pruneByMagnitude,
  SERVED_DTYPES,
  servedModelFiles,
  type ServedDtype,
} from '../server/store/served-compression.js';

function isServedDtype(value: string): value is ServedDtype {
  return (SERVED_DTYPES as readonly string[]).includes(value);
}

/** `fedserve export`: writes a committed version as a (quantized, pruned) tfjs model; resolves with the exit code. */
export async function exportCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      dtype: { type: 'string', default: 'float32' },
      prune: { type: 'string' },
    },
  });
  const dataDir = values['data-dir'];
  if (!dataDir || !values.out)
    throw new Error(
      `missing ${[!dataDir && '--data-dir', !values.out && '--out'].filter(Boolean).join(' and ')}\n\n${EXPORT_USAGE}`,
    );
  const dtype = values.dtype;
  if (!isServedDtype(dtype)) throw new Error(`--dtype must be float32, uint16 or uint8, got '${dtype}'`);
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0))
    throw new Error(`--version must be a non-negative integer, got '${values.version}'`);
  const sparsity = values.prune === undefined ? 0 : Number(values.prune);
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`--prune must be a fraction in [0, 1), got '${values.prune}'`);
  // What the store skips (damaged versions) is part of the command's own output.
  const store = new CheckpointStore(dataDir, { logger: lineLogger(out) });
  const checkpoint = version === undefined ? await store.latest() : await store.load(version);
  if (!checkpoint) throw new Error(`${dataDir} holds no committed version`);
  const pruned = sparsity > 0 ? pruneByMagnitude(checkpoint.weights, checkpoint.weightSpecs, sparsity) : undefined;
  const files = servedModelFiles({ ...checkpoint, weights: pruned?.weights ?? checkpoint.weights }, dtype);
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'weights.bin'), files.weights);
  await writeFile(join(values.out, 'model.json'), JSON.stringify(files.modelJson));
  out(
    `version ${checkpoint.version} written to ${join(values.out, 'model.json')}: ${dtype} weights, ${files.weights.byteLength} bytes ` +
      `(${(files.weights.byteLength / checkpoint.weights.byteLength).toFixed(3)}x float32)` +
      (pruned ? `, ${(pruned.zeroFraction * 100).toFixed(1)}% of the parameters zero after pruning` : ''),
  );
  return 0;
}
