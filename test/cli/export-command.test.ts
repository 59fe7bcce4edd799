import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../cli/export-command.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import { silentLogger } from '../../server/logger.js';

const specs = [
  { name: 'dense/kernel', shape: [4, 8] },
  { name: 'dense/bias', shape: [8] },
];
const weights = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i) * (i < 32 ? 1 : 0.01));
const topology = { class_name: 'Sequential', config: { name: 'tiny', layers: [] } };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-export-'));
  const store = new CheckpointStore(join(dir, 'data'), { logger: silentLogger() });
  for (const version of [0, 1]) {
    await store.save({
      version,
      round: version,
      weights: weights.map((w) => w * (version + 1)),
      modelTopology: topology,
      weightSpecs: specs,
      metadata: {},
    });
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('fedserve export', () => {
  it('writes the latest version as uint8 with quantization fields, a quarter of the float32 bytes', async () => {
    const lines: string[] = [];
    const out = join(dir, 'uint8');
    expect(
      await exportCommand(['--data-dir', join(dir, 'data'), '--out', out, '--dtype', 'uint8'], (l) => lines.push(l)),
    ).toBe(0);
    expect((await stat(join(out, 'weights.bin'))).size).toBe(40);
    const json = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights[0]).toMatchObject({
      name: 'dense/kernel',
      dtype: 'float32',
      quantization: { dtype: 'uint8' },
    });
    expect(lines[0]).toMatch(/^version 1 written to .*: uint8 weights, 40 bytes \(0\.250x float32\)$/);
  });

  it('exports a chosen version, pruned, as float32', async () => {
    const lines: string[] = [];
    const out = join(dir, 'pruned');
    await exportCommand(['--data-dir', join(dir, 'data'), '--out', out, '--version', '0', '--prune', '0.5'], (l) =>
      lines.push(l),
    );
    const written = new Float32Array((await readFile(join(out, 'weights.bin'))).buffer.slice(0));
    expect(written.subarray(0, 32).filter((w) => w === 0)).toHaveLength(16);
    expect(written.subarray(32)).toEqual(weights.subarray(32));
    expect(lines[0]).toMatch(
      /^version 0 written .*float32 weights, 160 bytes \(1\.000x float32\), 40\.0% of the parameters zero after pruning$/,
    );
  });

  it.each([
    [['--out', 'x'], /missing --data-dir/],
    [['--data-dir', 'x', '--out', 'y', '--dtype', 'int8'], /--dtype must be float32, uint16 or uint8, got 'int8'/],
    [['--data-dir', 'x', '--out', 'y', '--prune', '1'], /--prune must be a fraction in \[0, 1\), got '1'/],
    [['--data-dir', 'x', '--out', 'y', '--version', '1.5'], /--version must be a non-negative integer/],
  ])('refuses %j with a clear error', async (argv, text) => {
    await expect(exportCommand(argv, () => undefined)).rejects.toThrow(text);
  });

  it('says so when the data dir holds no version', async () => {
    await expect(
      exportCommand(['--data-dir', join(dir, 'empty'), '--out', join(dir, 'none')], () => undefined),
    ).rejects.toThrow(/holds no committed version/);
  });
});
