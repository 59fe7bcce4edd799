import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The synchronous file-system calls replaceFileSync makes, injected so tests can observe their order. */
export interface SyncFileSystem {
  openSync(path: string, flags: 'wx' | 'r', mode?: number): number;
  writeFileSync(fd: number, data: string): void;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options: { force: boolean }): void;
  readdirSync(path: string): string[];
}

export const nodeSyncFileSystem: SyncFileSystem = {
  openSync: (path, flags, mode) => fs.openSync(path, flags, mode),
  writeFileSync: (fd, data) => fs.writeFileSync(fd, data),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (from, to) => fs.renameSync(from, to),
  rmSync: (path, options) => fs.rmSync(path, options),
  readdirSync: (path) => fs.readdirSync(path),
};

const tempPrefix = (path: string) => `.${basename(path)}.tmp-`;

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new file, never a torn
 * one: a new temp file with an unpredictable name (so nobody can plant it in advance), fsync,
 * rename over `path`, fsync of the directory (the rename is one of its entries).
 */
export function replaceFileSync(path: string, data: string, fsys: SyncFileSystem = nodeSyncFileSystem): void {
  const dir = dirname(path);
  const temp = join(dir, `${tempPrefix(path)}${randomBytes(8).toString('hex')}`);
  const fd = fsys.openSync(temp, 'wx', 0o600);
  try {
    try {
      fsys.writeFileSync(fd, data);
      fsys.fsyncSync(fd);
    } finally {
      fsys.closeSync(fd);
    }
    fsys.renameSync(temp, path);
  } catch (e) {
    fsys.rmSync(temp, { force: true });
    throw e;
  }
  const dirFd = fsys.openSync(dir, 'r');
  try {
    fsys.fsyncSync(dirFd);
  } finally {
    fsys.closeSync(dirFd);
  }
}

/** Removes temp files interrupted replaceFileSync calls on `path` left; returns their names. */
export function removeTempFilesSync(path: string, fsys: SyncFileSystem = nodeSyncFileSystem): string[] {
  let names: string[];
  try {
    names = fsys.readdirSync(dirname(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const leftovers = names.filter((n) => n.startsWith(tempPrefix(path)));
  for (const name of leftovers) fsys.rmSync(join(dirname(path), name), { force: true });
  return leftovers;
}
