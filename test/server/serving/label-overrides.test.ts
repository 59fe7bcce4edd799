import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LabelOverrides } from '../../../server/serving/label-overrides.js';
import { nodeSyncFileSystem, type SyncFileSystem } from '../../../server/store/atomic-file.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-labels-'));
  file = join(dir, 'version-labels.json');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** The real file system, recording each call by file name; `failOn` makes that call throw. */
function recording(calls: string[], failOn?: 'fsync' | 'rename'): SyncFileSystem {
  const names = new Map<number, string>();
  const name = (p: string) => (p === dir ? '<dir>' : basename(p).replace(/[0-9a-f]{16}$/, 'RANDOM'));
  return {
    ...nodeSyncFileSystem,
    openSync: (path, flags, mode) => {
      const fd = nodeSyncFileSystem.openSync(path, flags, mode);
      names.set(fd, name(path));
      calls.push(`open ${flags} ${name(path)}`);
      return fd;
    },
    writeFileSync: (fd, data) => {
      calls.push(`write ${names.get(fd)}`);
      nodeSyncFileSystem.writeFileSync(fd, data);
    },
    fsyncSync: (fd) => {
      calls.push(`fsync ${names.get(fd)}`);
      if (failOn === 'fsync') throw new Error('EIO: i/o error, fsync');
      nodeSyncFileSystem.fsyncSync(fd);
    },
    renameSync: (from, to) => {
      calls.push(`rename ${name(from)} -> ${name(to)}`);
      if (failOn === 'rename') throw new Error('EXDEV: cross-device link not permitted, rename');
      nodeSyncFileSystem.renameSync(from, to);
    },
  };
}

describe('LabelOverrides', () => {
  it('has no changes before the file exists, and creates nothing by reading', async () => {
    const o = LabelOverrides.load(file);
    expect(o.applyTo({ stable: 3 })).toEqual({ stable: 3 });
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps sets and removals across a reload, on top of the config', () => {
    const o = LabelOverrides.load(file);
    o.set('canary', 4);
    o.set('stable', 2);
    o.remove('old');
    const config = { stable: 3, old: 1, beta: 5 };
    expect(o.applyTo(config)).toEqual({ stable: 2, canary: 4, beta: 5 });
    const again = LabelOverrides.load(file);
    expect(again.applyTo(config)).toEqual({ stable: 2, canary: 4, beta: 5 });
    // A label nobody changed over REST follows the config.
    expect(again.applyTo({ ...config, beta: 6 })).toEqual({ stable: 2, canary: 4, beta: 6 });
  });

  it('forgets a removal when the label is set again, and a set when it is removed', async () => {
    const o = LabelOverrides.load(file);
    o.remove('stable');
    o.set('stable', 1);
    expect(LabelOverrides.load(file).applyTo({ stable: 3 })).toEqual({ stable: 1 });
    o.remove('stable');
    expect(LabelOverrides.load(file).applyTo({ stable: 3 })).toEqual({});
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ set: {}, removed: ['stable'] });
  });

  it('writes a temp file, fsyncs it, renames it over the file, then fsyncs the directory', () => {
    const calls: string[] = [];
    LabelOverrides.load(file, recording(calls)).set('stable', 2);
    expect(calls).toEqual([
      'open wx .version-labels.json.tmp-RANDOM',
      'write .version-labels.json.tmp-RANDOM',
      'fsync .version-labels.json.tmp-RANDOM',
      'rename .version-labels.json.tmp-RANDOM -> version-labels.json',
      'open r <dir>',
      'fsync <dir>',
    ]);
  });

  it.each(['fsync', 'rename'] as const)(
    'changes nothing, in memory or on disk, when the %s of a write fails',
    async (failOn) => {
      LabelOverrides.load(file).set('stable', 2);
      const before = await readFile(file, 'utf8');
      const o = LabelOverrides.load(file, recording([], failOn));
      expect(() => o.set('stable', 3)).toThrow(failOn === 'fsync' ? /^EIO/ : /^EXDEV/);
      expect(() => o.remove('stable')).toThrow();
      expect(o.applyTo({})).toEqual({ stable: 2 });
      expect(await readFile(file, 'utf8')).toBe(before);
      expect(await readdir(dir)).toEqual(['version-labels.json']);
    },
  );

  it('removes the temp files of interrupted writes when it loads', async () => {
    await writeFile(join(dir, '.version-labels.json.tmp-0123456789abcdef'), '{"set":{"x":');
    LabelOverrides.load(file);
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ['not JSON', '{"set":', /is not JSON/],
    ['a label that is not one', '{"set":{"Not A Label":1},"removed":[]}', /invalid \(set\.Not A Label: /],
    ['a negative version', '{"set":{"stable":-1},"removed":[]}', /invalid \(set\.stable: /],
    ['a fractional version', '{"set":{"stable":1.5},"removed":[]}', /invalid \(set\.stable: /],
    ['a removed entry that is not a label', '{"set":{},"removed":[7]}', /invalid \(removed\.0: /],
    ['an unknown key', '{"set":{},"removed":[],"extra":1}', /invalid \(\(root\): Unrecognized key/],
    ['a missing key', '{"set":{}}', /invalid \(removed: /],
  ])('refuses a file with %s, naming it', async (_, text, why) => {
    await writeFile(file, text);
    expect(() => LabelOverrides.load(file)).toThrow(why);
    expect(() => LabelOverrides.load(file)).toThrow(`version labels file ${file}`);
    expect(() => LabelOverrides.load(file)).toThrow(/: fix or remove it$/);
  });
});
