import { describe, expect, it } from 'vitest';
import { fsyncDir, nodeFileSystem, writeFileDurable, type FileSystem } from '../../../server/store/durable-fs.js';

/** A file system whose handles record each call; `failSync` makes every fsync fail. */
function recording(calls: string[], failSync = false): FileSystem {
  return {
    ...nodeFileSystem,
    open: async (path, flags) => {
      calls.push(`open ${flags} ${path}`);
      return {
        writeFile: async () => void calls.push(`write ${path}`),
        sync: async () => {
          calls.push(`fsync ${path}`);
          if (failSync) throw new Error('EIO: i/o error, fsync');
        },
        close: async () => void calls.push(`close ${path}`),
      };
    },
  };
}

describe('writeFileDurable', () => {
  it('creates the file, writes, fsyncs, then closes it', async () => {
    const calls: string[] = [];
    await writeFileDurable('/x/a.bin', new Uint8Array(2), recording(calls));
    expect(calls).toEqual(['open wx /x/a.bin', 'write /x/a.bin', 'fsync /x/a.bin', 'close /x/a.bin']);
  });

  it('closes the file when the fsync fails, and reports the failure', async () => {
    const calls: string[] = [];
    await expect(writeFileDurable('/x/a.bin', 'data', recording(calls, true))).rejects.toThrow(/EIO/);
    expect(calls.at(-1)).toBe('close /x/a.bin');
  });
});

describe('fsyncDir', () => {
  it('opens the directory to read, fsyncs and closes it, also when the fsync fails', async () => {
    const calls: string[] = [];
    await fsyncDir('/x', recording(calls));
    expect(calls).toEqual(['open r /x', 'fsync /x', 'close /x']);
    const failed: string[] = [];
    await expect(fsyncDir('/x', recording(failed, true))).rejects.toThrow(/EIO/);
    expect(failed).toEqual(['open r /x', 'fsync /x', 'close /x']);
  });
});
