import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError, CheckpointStore, type CheckpointInput } from '../../../server/store/checkpoint-store.js';
import { nodeFileSystem, type FileHandleLike, type FileSystem } from '../../../server/store/durable-fs.js';
import { createLogger, lineLogger, silentLogger } from '../../../server/logger.js';

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
  store = new CheckpointStore(dir, { logger: lineLogger((l) => logs.push(l)) });
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
    [
      'truncated weights',
      (d: string) => truncate(join(d, 'weights.bin'), 12),
      /weights\.bin has 12 bytes, round\.json records 32/,
    ],
    ['missing model.json', (d: string) => rm(join(d, 'model.json')), /model\.json is missing/],
    ['missing round.json', (d: string) => rm(join(d, 'round.json')), /round\.json is missing/],
    [
      'garbage round.json',
      (d: string) => writeFile(join(d, 'round.json'), '{"format": "fedserve-chec'),
      /round\.json is not valid JSON/,
    ],
    [
      'flipped weight bits',
      async (d: string) => {
        const bytes = await readFile(join(d, 'weights.bin'));
        bytes[5] ^= 0xff;
        await writeFile(join(d, 'weights.bin'), bytes);
      },
      /weights\.bin does not match its recorded SHA-256/,
    ],
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
    const results = await Promise.allSettled([
      store.save(checkpoint(4, 1)),
      store.save(checkpoint(4, 2)),
      store.save(checkpoint(5)),
      store.save(checkpoint(6)),
    ]);
    const sameVersion = results.slice(0, 2);
    expect(sameVersion.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(sameVersion.find((r) => r.status === 'rejected')).toMatchObject({
      reason: expect.objectContaining({ message: expect.stringMatching(/version 4 already exists/) }),
    });
    expect(results.slice(2).every((r) => r.status === 'fulfilled')).toBe(true);
    const winner = sameVersion.findIndex((r) => r.status === 'fulfilled') + 1;
    expect((await store.load(4)).weights).toEqual(checkpoint(4, winner).weights);
    expect((await readdir(join(dir, 'versions'))).sort()).toEqual(['4', '5', '6']);
  });

  it.each([
    ['NaN weights', { weights: Float32Array.from([1, 2, 3, NaN, 5, 6, 7, 8]) }, /weights\[3\] is NaN/],
    ['a wrong weight count', { weights: new Float32Array(7) }, /weights have 7 values, the weight specs need 8/],
    ['non-JSON metadata', { metadata: { started: new Date(0) } }, /metadata\.started is Date/],
    [
      'an infinite state value',
      { state: { accountant: { eps: [1, Infinity] } } },
      /state\.accountant\.eps\[1\] is Infinity/,
    ],
    ['a negative version', { version: -1 }, /version must be a non-negative integer, got -1/],
  ])('rejects %s and writes nothing', async (_what, patch, message) => {
    await expect(store.save({ ...checkpoint(1), ...patch })).rejects.toThrow(message);
    expect(await store.versions()).toEqual([]);
    expect(await readdir(join(dir, 'versions')).catch(() => [])).toEqual([]);
  });
});

/** Records every file-system call the store makes, passing it on to the real file system. */
function recordingFs(calls: string[], rel: (p: string) => string): FileSystem {
  const handle = (path: string, fh: FileHandleLike): FileHandleLike => ({
    writeFile: async (data) => {
      calls.push(`write ${rel(path)}`);
      await fh.writeFile(data);
    },
    sync: async () => {
      calls.push(`fsync ${rel(path)}`);
      await fh.sync();
    },
    close: () => fh.close(),
  });
  return {
    open: async (path, flags) => handle(path, await nodeFileSystem.open(path, flags)),
    rename: async (from, to) => {
      calls.push(`rename ${rel(from)} -> ${rel(to)}`);
      await nodeFileSystem.rename(from, to);
    },
    mkdir: async (path, options) => {
      calls.push(`mkdir ${rel(path)}`);
      await nodeFileSystem.mkdir(path, options);
    },
    readdir: (path) => nodeFileSystem.readdir(path),
    readFile: (path) => nodeFileSystem.readFile(path),
    rm: async (path, options) => {
      calls.push(`rm ${rel(path)}`);
      await nodeFileSystem.rm(path, options);
    },
  };
}

describe('CheckpointStore durable writes', () => {
  it('writes and fsyncs every file, fsyncs the temp dir, renames it, then fsyncs the versions dir, in that order', async () => {
    const calls: string[] = [];
    const rel = (p: string) => relative(dir, p).replace(/\.tmp-7-\d+-[0-9a-f]{12}/, '.tmp-7');
    const observed = new CheckpointStore(dir, { logger: silentLogger(), fs: recordingFs(calls, rel) });
    await observed.save({ ...checkpoint(7), state: { velocity: Float32Array.from([1, 2]) } });
    const temp = 'versions/.tmp-7';
    expect(calls).toEqual([
      'mkdir versions',
      'fsync ',
      'mkdir versions/.tmp-7',
      ...['weights.bin', 'model.json', 'state.bin', 'round.json'].flatMap((f) => [
        `write ${temp}/${f}`,
        `fsync ${temp}/${f}`,
      ]),
      `fsync ${temp}`,
      `rename ${temp} -> versions/7`,
      'fsync versions',
    ]);
    expect((await store.load(7)).weights).toEqual(checkpoint(7).weights);
  });

  it('leaves no version and no temp dir when an fsync fails, and reports the failure', async () => {
    const failing: FileSystem = {
      ...nodeFileSystem,
      open: async (path, flags) => {
        const fh = await nodeFileSystem.open(path, flags);
        return path.endsWith('state.bin')
          ? {
              ...fh,
              writeFile: (d) => fh.writeFile(d),
              close: () => fh.close(),
              sync: async () => {
                throw new Error('EIO: i/o error, fsync');
              },
            }
          : fh;
      },
    };
    const broken = new CheckpointStore(dir, { logger: silentLogger(), fs: failing });
    await expect(broken.save({ ...checkpoint(2), state: { velocity: new Float32Array(2) } })).rejects.toThrow(/EIO/);
    expect(await readdir(join(dir, 'versions'))).toEqual([]);
  });
});

describe('CheckpointStore.recover', () => {
  const flip = async (file: string) => {
    const bytes = await readFile(file);
    bytes[1] ^= 0x01;
    await writeFile(file, bytes);
  };

  it('removes temp dirs interrupted saves left, logging each', async () => {
    await store.save(checkpoint(1));
    const temp = join(dir, 'versions', '.tmp-2-999-abcdef');
    await mkdir(temp);
    await writeFile(join(temp, 'weights.bin'), new Uint8Array(16));
    const recovered = await store.recover();
    expect(recovered.latest!.version).toBe(1);
    expect(recovered.quarantined).toEqual([]);
    expect(recovered.highestVersion).toBe(1);
    expect(await readdir(join(dir, 'versions'))).toEqual(['1']);
    expect(logs.join('\n')).toMatch(/removed .*\.tmp-2-999-abcdef: an interrupted save left it/);
  });

  it('moves damaged newest versions to quarantine with their round file, and keeps counting their numbers', async () => {
    await store.save(checkpoint(1));
    await store.save({ ...checkpoint(2), state: { velocity: new Float32Array(4) } });
    await store.save(checkpoint(3));
    await flip(join(versionDir(2), 'state.bin'));
    await writeFile(join(versionDir(3), 'round.json'), '{"torn');
    const recovered = await store.recover();
    expect(recovered.latest!.version).toBe(1);
    expect(recovered.highestVersion).toBe(3);
    expect(recovered.quarantined.map((q) => [q.version, q.reason])).toEqual([
      [3, 'round.json is not valid JSON'],
      [2, 'state.bin does not match its recorded SHA-256'],
    ]);
    expect(recovered.quarantined[0].roundFile).toBeUndefined();
    expect(recovered.quarantined[1].roundFile).toEqual({ round: 2, metadata: checkpoint(2).metadata });
    expect(await store.versions()).toEqual([1]);
    const moved = (await readdir(join(dir, 'quarantine'))).sort();
    expect(moved).toHaveLength(2);
    expect(moved[0]).toMatch(/^2-/);
    expect(moved[1]).toMatch(/^3-/);
    expect(logs.join('\n')).toMatch(
      /checkpoint version 3 is unusable \(round\.json is not valid JSON\); moved to .*quarantine\/3-/,
    );

    // A later start still knows versions 2 and 3 were taken and lack from latest; the next number is free.
    const again = await new CheckpointStore(dir, { logger: silentLogger() }).recover();
    expect(again.highestVersion).toBe(3);
    expect(again.latest!.version).toBe(1);
    expect(again.quarantined.map((q) => [q.version, q.reason, q.roundFile?.round])).toEqual([
      [3, 'quarantined by an earlier start', undefined],
      [2, 'quarantined by an earlier start', 2],
    ]);
    await store.save(checkpoint(4));
    expect(await store.versions()).toEqual([1, 4]);
  });

  it('does not quarantine an older damaged version under a good newest one', async () => {
    await store.save(checkpoint(1));
    await store.save(checkpoint(2));
    await flip(join(versionDir(1), 'weights.bin'));
    const recovered = await store.recover();
    expect(recovered.latest!.version).toBe(2);
    expect(recovered.quarantined).toEqual([]);
    expect(await store.versions()).toEqual([1, 2]);
  });

  it('has nothing on a fresh dir', async () => {
    expect(await store.recover()).toEqual({ latest: null, quarantined: [], highestVersion: null });
  });
});

const ioError = (code: string, call: string) =>
  Object.assign(new Error(`${code}: simulated failure, ${call}`), { code });

/** Rewrites one file of a saved version and records its new size and checksum in round.json, as a consistent (not torn) edit. */
async function rewrite(version: number, name: string, edit: (text: string) => string): Promise<void> {
  const vdir = join(dir, 'versions', String(version));
  const text = edit(await readFile(join(vdir, name), 'utf8'));
  await writeFile(join(vdir, name), text);
  const round = JSON.parse(await readFile(join(vdir, 'round.json'), 'utf8'));
  round.files[name] = { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  await writeFile(join(vdir, 'round.json'), JSON.stringify(round));
}
const editJson = (edit: (o: Record<string, any>) => void) => (text: string) => {
  const o = JSON.parse(text);
  edit(o);
  return JSON.stringify(o);
};

describe('CheckpointStore input and errors', () => {
  it('says which version is missing or unusable, and why', async () => {
    const missing = await store.load(4).catch((e: unknown) => e);
    expect(missing).toMatchObject({
      name: 'CheckpointError',
      kind: 'missing',
      version: 4,
      reason: 'no such version',
      message: 'checkpoint version 4 does not exist',
    });
    await store.save(checkpoint(1));
    await store.save(checkpoint(2));
    await writeFile(join(versionDir(2), 'round.json'), await readFile(join(versionDir(1), 'round.json')));
    const corrupt = await store.load(2).catch((e: unknown) => e);
    expect(corrupt).toMatchObject({
      kind: 'corrupt',
      message: 'checkpoint version 2 is unusable: round.json says version 1',
    });
    await expect(store.load(-1)).rejects.toThrow('version must be a non-negative integer, got -1');
    await expect(store.load(1.5)).rejects.toThrow('version must be a non-negative integer, got 1.5');
  });

  it('takes version 0 at round 0, refuses a negative round', async () => {
    await store.save({ ...checkpoint(0), round: 0 });
    expect(await store.load(0)).toMatchObject({ version: 0, round: 0 });
    await expect(store.save({ ...checkpoint(1), round: -1 })).rejects.toThrow(
      'round must be a non-negative integer, got -1',
    );
  });

  it('writes state.bin only when the state holds arrays, and the model.json tfjs expects', async () => {
    await store.save(checkpoint(1));
    await store.save({ ...checkpoint(2), state: { step: 7, orders: [2, 4] } });
    for (const v of [1, 2])
      expect((await readdir(versionDir(v))).sort()).toEqual(['model.json', 'round.json', 'weights.bin']);
    expect((await store.load(2)).state).toEqual({ step: 7, orders: [2, 4] });
    expect((await store.load(1)).state).toBeUndefined();
    expect(JSON.parse(await readFile(join(versionDir(1), 'model.json'), 'utf8'))).toMatchObject({
      format: 'layers-model',
      generatedBy: 'fedserve',
      convertedBy: null,
    });
    expect(logs).toEqual([]);
  });

  it.each([
    [
      'a round.json of another format',
      (v: number) => rewriteRound(v, (o) => void (o.format = 'other/1')),
      /^round\.json field format: /,
    ],
    [
      'a malformed checksum',
      (v: number) => rewriteRound(v, (o) => void (o.files['weights.bin'].sha256 = 'abc')),
      /^round\.json field files\.weights\.bin\.sha256: /,
    ],
    [
      'a round.json that is not an object',
      (v: number) => writeFile(join(versionDir(v), 'round.json'), '[]'),
      /^round\.json field \(root\): /,
    ],
    [
      'a graph model',
      (v: number) =>
        rewrite(
          v,
          'model.json',
          editJson((o) => void (o.format = 'graph-model')),
        ),
      /^model\.json is not a float32 layers-model with one weights file$/,
    ],
    [
      'a model.json pointing at another file',
      (v: number) =>
        rewrite(
          v,
          'model.json',
          editJson((o) => void (o.weightsManifest[0].paths = ['other.bin'])),
        ),
      /^model\.json points at other\.bin, not weights\.bin$/,
    ],
    [
      'weight specs that need more bytes',
      (v: number) =>
        rewrite(
          v,
          'model.json',
          editJson((o) => void (o.weightsManifest[0].weights[0].shape = [3, 3])),
        ),
      /^weights\.bin has 32 bytes, the weight specs need 44$/,
    ],
    [
      'a state manifest that does not fit state.bin',
      (v: number) => rewriteRound(v, (o) => void (o.state.arrays[0].byteOffset = 2)),
      /^state\.velocity: bytes 2\.\.18 do not fit state\.bin \(16 bytes\)$/,
    ],
  ])('refuses %s, naming what is wrong', async (_what, damage, reason) => {
    await store.save({ ...checkpoint(2), state: { velocity: new Float32Array(4) } });
    await damage(2);
    const err = await store.load(2).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'corrupt', version: 2 });
    expect((err as CheckpointError).reason).toMatch(reason);
  });

  it('copies the weights out of a read buffer at any offset', async () => {
    await store.save(checkpoint(1));
    // A Buffer that is a view into a larger ArrayBuffer, as pooled reads give.
    const offsetReads: FileSystem = {
      ...nodeFileSystem,
      readFile: async (path) => {
        const data = await nodeFileSystem.readFile(path);
        const big = Buffer.alloc(data.byteLength + 64);
        data.copy(big, 4);
        return big.subarray(4, 4 + data.byteLength);
      },
    };
    const loaded = await new CheckpointStore(dir, { logger: silentLogger(), fs: offsetReads }).load(1);
    expect(loaded.weights).toEqual(checkpoint(1).weights);
  });

  it('logs what it skips at warn level, naming the version', async () => {
    await store.save(checkpoint(1));
    await store.save(checkpoint(2));
    await mkdir(join(dir, 'versions', '.tmp-3-1-abcdef'));
    await writeFile(join(dir, 'versions', '2', 'weights.bin'), 'torn');
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      format: 'json',
      destination: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    });
    expect((await new CheckpointStore(dir, { logger }).latest())?.version).toBe(1);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: expect.stringMatching(/^ignoring .*\.tmp-3-1-abcdef: an interrupted save/),
      }),
      expect.objectContaining({
        level: 40,
        version: 2,
        msg: expect.stringMatching(/^skipping checkpoint version 2: /),
      }),
    ]);
    // Moving it to quarantine names the version too.
    lines.length = 0;
    await new CheckpointStore(dir, { logger }).recover();
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        version: 2,
        msg: expect.stringMatching(/^checkpoint version 2 is unusable \(/),
      }),
    );
  });
});

async function rewriteRound(version: number, edit: (o: Record<string, any>) => void): Promise<void> {
  const file = join(dir, 'versions', String(version), 'round.json');
  await writeFile(file, editJson(edit)(await readFile(file, 'utf8')));
}

describe('CheckpointStore file-system failures', () => {
  it('passes an I/O error on, never taking it for a damaged version', async () => {
    await store.save(checkpoint(1));
    await store.save(checkpoint(2));
    for (const name of ['round.json', 'weights.bin']) {
      const eio: FileSystem = {
        ...nodeFileSystem,
        readFile: (path) =>
          path.endsWith(join('2', name)) ? Promise.reject(ioError('EIO', 'read')) : nodeFileSystem.readFile(path),
      };
      const flaky = new CheckpointStore(dir, { logger: lineLogger((l) => logs.push(l)), fs: eio });
      await expect(flaky.load(2)).rejects.toThrow(/^EIO/);
      await expect(flaky.latest()).rejects.toThrow(/^EIO/);
      await expect(flaky.recover()).rejects.toThrow(/^EIO/);
    }
    expect(await store.versions()).toEqual([1, 2]);
    expect(logs).toEqual([]);
  });

  it('passes on a failure to list the versions or the quarantine, whatever was thrown', async () => {
    const denied = (which: string): FileSystem => ({
      ...nodeFileSystem,
      readdir: (path) =>
        path.endsWith(which) ? Promise.reject(ioError('EACCES', 'scandir')) : nodeFileSystem.readdir(path),
    });
    await expect(
      new CheckpointStore(dir, { logger: silentLogger(), fs: denied('versions') }).versions(),
    ).rejects.toThrow(/^EACCES/);
    await expect(
      new CheckpointStore(dir, { logger: silentLogger(), fs: denied('quarantine') }).recover(),
    ).rejects.toThrow(/^EACCES/);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the store must cope with a rejection that is no Error
    const rejectsNull: FileSystem = { ...nodeFileSystem, readdir: () => Promise.reject(null) };
    await expect(new CheckpointStore(dir, { logger: silentLogger(), fs: rejectsNull }).versions()).rejects.toBeNull();
  });

  it('reports a failed rename as itself, an existing target as "already exists", and leaves no temp dir', async () => {
    const renameFails = (code: string): FileSystem => ({
      ...nodeFileSystem,
      rename: () => Promise.reject(ioError(code, 'rename')),
    });
    await expect(
      new CheckpointStore(dir, { logger: silentLogger(), fs: renameFails('EIO') }).save(checkpoint(1)),
    ).rejects.toThrow(/^EIO/);
    await expect(
      new CheckpointStore(dir, { logger: silentLogger(), fs: renameFails('EEXIST') }).save(checkpoint(1)),
    ).rejects.toThrow('checkpoint version 1 already exists');
    expect(await readdir(join(dir, 'versions'))).toEqual([]);
  });

  it('reports a failed fsync of the versions dir after the rename (not the cleanup of the moved temp dir)', async () => {
    const versionsSyncFails: FileSystem = {
      ...nodeFileSystem,
      open: async (path, flags) => {
        const fh = await nodeFileSystem.open(path, flags);
        const renamed = path === join(dir, 'versions') && (await readdir(path)).includes('1');
        return renamed
          ? {
              writeFile: (d) => fh.writeFile(d),
              close: () => fh.close(),
              sync: () => Promise.reject(ioError('EIO', 'fsync')),
            }
          : fh;
      },
    };
    await expect(
      new CheckpointStore(dir, { logger: silentLogger(), fs: versionsSyncFails }).save(checkpoint(1)),
    ).rejects.toThrow(/^EIO: simulated failure, fsync/);
  });

  it('checks for an existing version before writing anything, and replaces an empty directory in its place', async () => {
    await store.save(checkpoint(1));
    const calls: string[] = [];
    const observed = new CheckpointStore(dir, {
      logger: silentLogger(),
      fs: recordingFs(calls, (p) => relative(dir, p)),
    });
    await expect(observed.save(checkpoint(1, 9))).rejects.toThrow('checkpoint version 1 already exists');
    expect(calls).toEqual(['mkdir versions', 'fsync ']);
    await mkdir(versionDir(2));
    await store.save(checkpoint(2));
    expect((await store.load(2)).weights).toEqual(checkpoint(2).weights);
    const denied: FileSystem = {
      ...nodeFileSystem,
      readdir: (path) =>
        path === versionDir(3) ? Promise.reject(ioError('EACCES', 'scandir')) : nodeFileSystem.readdir(path),
    };
    await expect(new CheckpointStore(dir, { logger: silentLogger(), fs: denied }).save(checkpoint(3))).rejects.toThrow(
      /^EACCES/,
    );
    expect(await store.versions()).toEqual([1, 2]);
  });
});

describe('CheckpointStore.roundFiles', () => {
  it("reads each version's round and metadata, leaving out torn or mismatched round files", async () => {
    for (const v of [1, 2, 3, 4]) await store.save({ ...checkpoint(v), metadata: { v } });
    await writeFile(join(versionDir(2), 'round.json'), '{"torn');
    await writeFile(join(versionDir(3), 'round.json'), await readFile(join(versionDir(1), 'round.json')));
    await rewriteRound(4, (o) => void (o.format = 'other/1'));
    expect(await store.roundFiles()).toEqual([{ version: 1, round: 1, metadata: { v: 1 } }]);
  });
});

describe('CheckpointStore.recover, more cases', () => {
  const damage = (v: number) => writeFile(join(versionDir(v), 'round.json'), '{"torn');

  it('fsyncs the versions dir after removing temp dirs, and tolerates one another start removed first', async () => {
    await mkdir(join(dir, 'versions', '.tmp-2-999-abcdef'), { recursive: true });
    const calls: string[] = [];
    const recording = recordingFs(calls, (p) => relative(dir, p));
    const alsoListsGone: FileSystem = {
      ...recording,
      readdir: async (path) => [
        ...(await recording.readdir(path)),
        ...(path === join(dir, 'versions') ? ['.tmp-3-999-abcdef'] : []),
      ],
    };
    const recovered = await new CheckpointStore(dir, { logger: silentLogger(), fs: alsoListsGone }).recover();
    expect(recovered).toEqual({ latest: null, quarantined: [], highestVersion: null });
    expect(calls).toEqual(['rm versions/.tmp-2-999-abcdef', 'rm versions/.tmp-3-999-abcdef', 'fsync versions']);
  });

  it('names quarantined dirs <version>-<time without colons or dots>-<random> and ignores stray files there', async () => {
    await store.save(checkpoint(1));
    await damage(1);
    await store.recover();
    await writeFile(join(dir, 'quarantine', 'README'), 'notes');
    const moved = (await readdir(join(dir, 'quarantine'))).filter((n) => n !== 'README');
    expect(moved).toEqual([expect.stringMatching(/^1-\d{4}-\d{2}-\d{2}T\d{9}Z-[0-9a-f]{6}$/)]);
    // Every version damaged: nothing to load, and a later start still counts the quarantined one.
    const again = await store.recover();
    expect(again).toMatchObject({
      latest: null,
      highestVersion: 1,
      quarantined: [{ version: 1, reason: 'quarantined by an earlier start' }],
    });
  });

  it('leaves out earlier-quarantined versions at or below the newest good one', async () => {
    await store.save(checkpoint(1));
    await store.save(checkpoint(2));
    await damage(2);
    expect((await store.recover()).quarantined.map((q) => q.version)).toEqual([2]);
    // Version 2 committed again (by hand): the quarantined 2 is no longer a round the store lacks.
    await store.save(checkpoint(2));
    expect(await store.recover()).toMatchObject({ quarantined: [], highestVersion: 2 });
    await store.save(checkpoint(3));
    expect(await store.recover()).toMatchObject({ quarantined: [], highestVersion: 3 });
  });
});
