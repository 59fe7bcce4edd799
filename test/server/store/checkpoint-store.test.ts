import { mkdtemp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError, CheckpointStore, type CheckpointInput } from '../../../server/store/checkpoint-store.js';

const specs = [
  { name: 'dense/kernel', shape: [3, 2] },
  { name: 'dense/bias', shape: [2] },
];
const topology = { class_name: 'Sequential', config: { name: 'tiny', layers: [] } };

function checkpoint(version: number, fill = version): CheckpointInput {
  return {
    version,
    round: version,
    weights: Float32Array.from({ length: 8 }, (_, i) => fill + i / 8),
    modelTopology: topology,
    weightSpecs: specs,
    metadata: { participants: ['a', 'b'], examples: 120, metrics: { accuracy: 0.5 } },
  };
}

let dir: string;
let logs: string[];
let store: CheckpointStore;
const versionDir = (v: number) => join(dir, 'versions', String(v));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-store-'));
  logs = [];
  store = new CheckpointStore(dir, { log: (l) => logs.push(l) });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CheckpointStore', () => {
  it('round-trips weights, topology, metadata and binary state', async () => {
    const velocity = Float32Array.from([0.25, -1.5, 3e-8]);
    const moments = [Float32Array.from([1, 2]), Float32Array.from([3])];
    const cp = {
      ...checkpoint(3),
      state: { optimizer: { velocity, step: 7 }, accountant: { steps: 12, orders: [2, 4.5], moments } },
    };
    await store.save(cp);
    expect((await readdir(versionDir(3))).sort()).toEqual(['model.json', 'round.json', 'state.bin', 'weights.bin']);
    const modelJson = JSON.parse(await readFile(join(versionDir(3), 'model.json'), 'utf8'));
    expect(modelJson.weightsManifest).toEqual([
      { paths: ['weights.bin'], weights: specs.map((s) => ({ ...s, dtype: 'float32' })) },
    ]);

    const loaded = await store.load(3);
    expect(loaded.weights).toEqual(cp.weights);
    expect(loaded.modelTopology).toEqual(topology);
    expect(loaded.weightSpecs).toEqual(specs);
    expect(loaded.metadata).toEqual(cp.metadata);
    expect(loaded.round).toBe(3);
    expect(loaded.state).toEqual(cp.state);
    expect((loaded.state!.optimizer as { velocity: Float32Array }).velocity).toBeInstanceOf(Float32Array);
    expect(await store.latest()).toEqual(loaded);
  });

  it('lists versions numerically and returns the newest as latest', async () => {
    for (const v of [2, 10, 1]) await store.save(checkpoint(v));
    expect(await store.versions()).toEqual([1, 2, 10]);
    expect((await store.latest())!.version).toBe(10);
  });

  it('has nothing in an empty directory and says a version is missing', async () => {
    expect(await store.latest()).toBeNull();
    expect(await store.versions()).toEqual([]);
    await expect(store.load(4)).rejects.toMatchObject({ kind: 'missing', version: 4 });
  });

  it('never loads a leftover temp dir from an interrupted save', async () => {
    await store.save(checkpoint(1));
    const temp = join(dir, 'versions', '.tmp-2-999-abcdef');
    await mkdir(temp);
    await writeFile(join(temp, 'weights.bin'), new Uint8Array(16));
    expect((await store.latest())!.version).toBe(1);
    expect(await store.versions()).toEqual([1]);
    expect(logs.join('\n')).toMatch(/\.tmp-2-999-abcdef.*interrupted save/);
  });

  it.each([
    ['truncated weights', (d: string) => truncate(join(d, 'weights.bin'), 12), /weights\.bin has 12 bytes, round\.json records 32/],
    ['missing model.json', (d: string) => rm(join(d, 'model.json')), /model\.json is missing/],
    ['missing round.json', (d: string) => rm(join(d, 'round.json')), /round\.json is missing/],
    ['garbage round.json', (d: string) => writeFile(join(d, 'round.json'), '{"format": "fedserve-chec'), /round\.json is not valid JSON/],
    ['flipped weight bits', async (d: string) => {
      const bytes = await readFile(join(d, 'weights.bin'));
      bytes[5] ^= 0xff;
      await writeFile(join(d, 'weights.bin'), bytes);
    }, /weights\.bin does not match its recorded SHA-256/],
    ['truncated state', (d: string) => truncate(join(d, 'state.bin'), 4), /state\.bin has 4 bytes/],
  ])('skips a version with %s and falls back to the previous one', async (_what, damage, reason) => {
    await store.save(checkpoint(1));
    await store.save({ ...checkpoint(2), state: { velocity: new Float32Array(4) } });
    await damage(versionDir(2));
    const latest = await store.latest();
    expect(latest!.version).toBe(1);
    expect(latest!.weights).toEqual(checkpoint(1).weights);
    expect(logs.join('\n')).toMatch(reason);
    const err = await store.load(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err).toMatchObject({ kind: 'corrupt', version: 2 });
    expect((err as Error).message).toMatch(reason);
  });

  it('refuses to overwrite a committed version and keeps the original', async () => {
    await store.save(checkpoint(1, 5));
    await expect(store.save(checkpoint(1, 9))).rejects.toThrow(/version 1 already exists/);
    expect((await store.load(1)).weights).toEqual(checkpoint(1, 5).weights);
    expect(await readdir(join(dir, 'versions'))).toEqual(['1']);
  });

  it('lets exactly one of two concurrent saves of a version win, and all saves of distinct versions', async () => {
    const results = await Promise.allSettled([store.save(checkpoint(4, 1)), store.save(checkpoint(4, 2)), store.save(checkpoint(5)), store.save(checkpoint(6))]);
    const sameVersion = results.slice(0, 2);
    expect(sameVersion.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(sameVersion.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.objectContaining({ message: expect.stringMatching(/version 4 already exists/) }) });
    expect(results.slice(2).every((r) => r.status === 'fulfilled')).toBe(true);
    const winner = sameVersion.findIndex((r) => r.status === 'fulfilled') + 1;
    expect((await store.load(4)).weights).toEqual(checkpoint(4, winner).weights);
    expect((await readdir(join(dir, 'versions'))).sort()).toEqual(['4', '5', '6']);
  });

  it.each([
    ['NaN weights', { weights: Float32Array.from([1, 2, 3, NaN, 5, 6, 7, 8]) }, /weights\[3\] is NaN/],
    ['a wrong weight count', { weights: new Float32Array(7) }, /weights have 7 values, the weight specs need 8/],
    ['non-JSON metadata', { metadata: { started: new Date(0) } }, /metadata\.started is Date/],
    ['an infinite state value', { state: { accountant: { eps: [1, Infinity] } } }, /state\.accountant\.eps\[1\] is Infinity/],
    ['a negative version', { version: -1 }, /version must be a non-negative integer, got -1/],
  ])('rejects %s and writes nothing', async (_what, patch, message) => {
    await expect(store.save({ ...checkpoint(1), ...patch } as CheckpointInput)).rejects.toThrow(message);
    expect(await store.versions()).toEqual([]);
    expect(await readdir(join(dir, 'versions')).catch(() => [])).toEqual([]);
  });
});
