import { basename } from 'node:path';
import { nodeSyncFileSystem, type SyncFileSystem } from '../../../server/store/atomic-file.js';

/**
 * The real synchronous file system, recording each call by the name of the file it concerns
 * (descriptors mapped back to their paths, `dir` itself as <dir>, random temp suffixes as RANDOM);
 * `failOn` makes that call throw as a failing disk would.
 */
export function recordingSyncFs(dir: string, calls: string[], failOn?: 'fsync' | 'rename'): SyncFileSystem {
  const paths = new Map<number, string>();
  const name = (p: string) => (p === dir ? '<dir>' : basename(p).replace(/[0-9a-f]{16}$/, 'RANDOM'));
  return {
    ...nodeSyncFileSystem,
    openSync: (path, flags, mode) => {
      const fd = nodeSyncFileSystem.openSync(path, flags, mode);
      paths.set(fd, name(path));
      calls.push(`open ${flags} ${name(path)}`);
      return fd;
    },
    writeFileSync: (fd, data) => {
      calls.push(`write ${paths.get(fd)}`);
      nodeSyncFileSystem.writeFileSync(fd, data);
    },
    fsyncSync: (fd) => {
      calls.push(`fsync ${paths.get(fd)}`);
      if (failOn === 'fsync') throw new Error('EIO: i/o error, fsync');
      nodeSyncFileSystem.fsyncSync(fd);
    },
    closeSync: (fd) => {
      calls.push(`close ${paths.get(fd)}`);
      nodeSyncFileSystem.closeSync(fd);
    },
    renameSync: (from, to) => {
      calls.push(`rename ${name(from)} -> ${name(to)}`);
      if (failOn === 'rename') throw new Error('EXDEV: cross-device link not permitted, rename');
      nodeSyncFileSystem.renameSync(from, to);
    },
  };
}
