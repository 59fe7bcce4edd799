import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServingOverrides } from '../../../server/serving/serving-overrides.js';
import { recordingSyncFs } from '../store/recording-sync-fs.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-overrides-'));
  file = join(dir, 'serving-overrides.json');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const recording = (calls: string[], failOn?: 'fsync' | 'rename') => recordingSyncFs(dir, calls, failOn);

describe('ServingOverrides', () => {
  const ALL = { kind: 'all' } as const;
  it('has no changes before the file exists, and creates nothing by reading', async () => {
    const o = ServingOverrides.load(file);
    expect(o.labels({ stable: 3 })).toEqual({ stable: 3 });
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps sets and removals across a reload, on top of the config', () => {
    const o = ServingOverrides.load(file);
    o.setLabel('canary', 4);
    o.setLabel('stable', 2);
    o.removeLabel('old');
    const config = { stable: 3, old: 1, beta: 5 };
    expect(o.labels(config)).toEqual({ stable: 2, canary: 4, beta: 5 });
    const again = ServingOverrides.load(file);
    expect(again.labels(config)).toEqual({ stable: 2, canary: 4, beta: 5 });
    // A label nobody changed over REST follows the config.
    expect(again.labels({ ...config, beta: 6 })).toEqual({ stable: 2, canary: 4, beta: 6 });
  });

  it('forgets a removal when the label is set again, and a set when it is removed', async () => {
    const o = ServingOverrides.load(file);
    o.removeLabel('stable');
    o.setLabel('stable', 1);
    expect(ServingOverrides.load(file).labels({ stable: 3 })).toEqual({ stable: 1 });
    o.removeLabel('stable');
    expect(ServingOverrides.load(file).labels({ stable: 3 })).toEqual({});
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ labels: { set: {}, removed: ['stable'] } });
  });

  it('writes a temp file, fsyncs it, renames it over the file, then fsyncs the directory', () => {
    const calls: string[] = [];
    ServingOverrides.load(file, recording(calls)).setLabel('stable', 2);
    expect(calls).toEqual([
      'open wx .serving-overrides.json.tmp-RANDOM',
      'write .serving-overrides.json.tmp-RANDOM',
      'fsync .serving-overrides.json.tmp-RANDOM',
      'close .serving-overrides.json.tmp-RANDOM',
      'rename .serving-overrides.json.tmp-RANDOM -> serving-overrides.json',
      'open r <dir>',
      'fsync <dir>',
      'close <dir>',
    ]);
  });

  it.each(['fsync', 'rename'] as const)(
    'changes nothing, in memory or on disk, when the %s of a write fails',
    async (failOn) => {
      ServingOverrides.load(file).setLabel('stable', 2);
      const before = await readFile(file, 'utf8');
      const o = ServingOverrides.load(file, recording([], failOn));
      expect(() => o.setLabel('stable', 3)).toThrow(failOn === 'fsync' ? /^EIO/ : /^EXDEV/);
      expect(() => o.removeLabel('stable')).toThrow();
      expect(o.labels({})).toEqual({ stable: 2 });
      expect(await readFile(file, 'utf8')).toBe(before);
      expect(await readdir(dir)).toEqual(['serving-overrides.json']);
    },
  );

  it('removes the temp files of interrupted writes when it loads', async () => {
    await writeFile(join(dir, '.serving-overrides.json.tmp-0123456789abcdef'), '{"set":{"x":');
    ServingOverrides.load(file);
    expect(await readdir(dir)).toEqual([]);
  });

  it("keeps the version policy set over REST across a reload, in place of the config's", () => {
    const o = ServingOverrides.load(file);
    expect(o.policy(ALL)).toEqual(ALL);
    o.setPolicy({ kind: 'latest', count: 2 });
    o.setLabel('stable', 1);
    const again = ServingOverrides.load(file);
    expect(again.policy(ALL)).toEqual({ kind: 'latest', count: 2 });
    expect(again.labels({})).toEqual({ stable: 1 });
    again.setPolicy({ kind: 'specific', versions: [1, 3] });
    expect(ServingOverrides.load(file).policy({ kind: 'latest', count: 5 })).toEqual({
      kind: 'specific',
      versions: [1, 3],
    });
  });

  it('keeps the old policy, in memory and on disk, when writing a new one fails', async () => {
    ServingOverrides.load(file).setPolicy({ kind: 'latest', count: 2 });
    const before = await readFile(file, 'utf8');
    const o = ServingOverrides.load(file, recording([], 'fsync'));
    expect(() => o.setPolicy(ALL)).toThrow(/^EIO/);
    expect(o.policy({ kind: 'latest', count: 9 })).toEqual({ kind: 'latest', count: 2 });
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  const labels = (inner: string) => `{"labels":${inner}}`;
  it.each([
    ['not JSON', '{"labels":', /is not JSON/],
    [
      'a label that is not one',
      labels('{"set":{"Not A Label":1},"removed":[]}'),
      /invalid \(labels\.set\.Not A Label: /,
    ],
    ['a negative version', labels('{"set":{"stable":-1},"removed":[]}'), /invalid \(labels\.set\.stable: /],
    ['a fractional version', labels('{"set":{"stable":1.5},"removed":[]}'), /invalid \(labels\.set\.stable: /],
    ['a removed entry that is not a label', labels('{"set":{},"removed":[7]}'), /invalid \(labels\.removed\.0: /],
    ['an unknown key', '{"labels":{"set":{},"removed":[]},"extra":1}', /invalid \(\(root\): Unrecognized key/],
    ['a missing key', labels('{"set":{}}'), /invalid \(labels\.removed: /],
    ['no labels', '{}', /invalid \(labels: /],
    [
      'an unknown policy',
      labels('{"set":{},"removed":[]}').replace(/}$/, ',"policy":{"kind":"newest"}}'),
      /invalid \(policy\.kind: /,
    ],
    [
      'a latest policy of 0',
      labels('{"set":{},"removed":[]}').replace(/}$/, ',"policy":{"kind":"latest","count":0}}'),
      /invalid \(policy\.count: /,
    ],
  ])('refuses a file with %s, naming it', async (_, text, why) => {
    await writeFile(file, text);
    expect(() => ServingOverrides.load(file)).toThrow(why);
    expect(() => ServingOverrides.load(file)).toThrow(`serving overrides file ${file}`);
    expect(() => ServingOverrides.load(file)).toThrow(/: fix or remove it$/);
  });
});
