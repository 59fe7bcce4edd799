import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  nodeSyncFileSystem,
  removeTempFilesSync,
  replaceFileSync,
  type SyncFileSystem,
} from '../../../server/store/atomic-file.js';
import { recordingSyncFs } from './recording-sync-fs.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-atomic-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const recording = (calls: string[], failOn?: 'fsync') => recordingSyncFs(dir, calls, failOn);

describe('replaceFileSync', () => {
  it('writes a new temp file, fsyncs it, renames it over the target, then fsyncs the directory', async () => {
    const file = join(dir, 'identities.json');
    const calls: string[] = [];
    replaceFileSync(file, '{"a":1}\n', recording(calls));
    expect(calls).toEqual([
      'open wx .identities.json.tmp-RANDOM',
      'write .identities.json.tmp-RANDOM',
      'fsync .identities.json.tmp-RANDOM',
      'close .identities.json.tmp-RANDOM',
      'rename .identities.json.tmp-RANDOM -> identities.json',
      'open r <dir>',
      'fsync <dir>',
      'close <dir>',
    ]);
    expect(await readFile(file, 'utf8')).toBe('{"a":1}\n');
    expect(await readdir(dir)).toEqual(['identities.json']);
  });

  it('uses a fresh unpredictable temp name each time, never one planted in advance', async () => {
    const file = join(dir, 'identities.json');
    const names: string[] = [];
    const fsys: SyncFileSystem = {
      ...nodeSyncFileSystem,
      renameSync: (from, to) => {
        names.push(basename(from));
        nodeSyncFileSystem.renameSync(from, to);
      },
    };
    replaceFileSync(file, 'one', fsys);
    replaceFileSync(file, 'two', fsys);
    expect(names[0]).not.toBe(names[1]);
    for (const n of names) expect(n).toMatch(/^\.identities\.json\.tmp-[0-9a-f]{16}$/);
    expect(names.some((n) => n.includes(String(process.pid)))).toBe(false);
  });

  it('keeps the old file and leaves no temp file when the fsync fails', async () => {
    const file = join(dir, 'identities.json');
    await writeFile(file, 'old');
    expect(() => replaceFileSync(file, 'new', recording([], 'fsync'))).toThrow(/EIO/);
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['identities.json']);
  });

  it('reports the rename failure when the temp file vanished under it (a concurrent cleanup)', () => {
    const file = join(dir, 'identities.json');
    const fsys: SyncFileSystem = {
      ...nodeSyncFileSystem,
      renameSync: (from, to) => {
        nodeSyncFileSystem.rmSync(from, { force: false });
        nodeSyncFileSystem.renameSync(from, to);
      },
    };
    expect(() => replaceFileSync(file, 'new', fsys)).toThrow(/ENOENT.*rename/);
  });

  it('removes temp files an interrupted replace left, and nothing else', async () => {
    const file = join(dir, 'identities.json');
    await writeFile(join(dir, '.identities.json.tmp-0123456789abcdef'), '{"tor');
    await writeFile(join(dir, 'identities.json'), '{}');
    await writeFile(join(dir, '.other.json.tmp-0123456789abcdef'), 'x');
    expect(removeTempFilesSync(file)).toEqual(['.identities.json.tmp-0123456789abcdef']);
    expect((await readdir(dir)).sort()).toEqual(['.other.json.tmp-0123456789abcdef', 'identities.json']);
    expect(removeTempFilesSync(join(dir, 'missing', 'x.json'))).toEqual([]);
  });

  it('skips a temp file another process removed first, and reports an unreadable directory', () => {
    const file = join(dir, 'identities.json');
    const listsGone: SyncFileSystem = {
      ...nodeSyncFileSystem,
      readdirSync: () => ['.identities.json.tmp-0123456789abcdef'],
    };
    expect(removeTempFilesSync(file, listsGone)).toEqual(['.identities.json.tmp-0123456789abcdef']);
    const unreadable: SyncFileSystem = {
      ...nodeSyncFileSystem,
      readdirSync: () => {
        throw Object.assign(new Error('EACCES: permission denied, scandir'), { code: 'EACCES' });
      },
    };
    expect(() => removeTempFilesSync(file, unreadable)).toThrow(/EACCES/);
  });
});
