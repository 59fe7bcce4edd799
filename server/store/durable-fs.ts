import * as fsp from 'node:fs/promises';

/** An open file or directory: what durable writes need of it. */
export interface FileHandleLike {
  writeFile(data: Uint8Array | string): Promise<void>;
  /** fsync(2): the contents (a directory: its entries) reach the disk. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls the store makes, injected so tests can observe durable writes in order
 * (and fail them); `nodeFileSystem` is the real one.
 */
export interface FileSystem {
  /** 'wx': create a new file, failing if it exists; 'r': open to read (or fsync a directory). */
  open(path: string, flags: 'wx' | 'r'): Promise<FileHandleLike>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  rm(path: string, options: { recursive: boolean; force: boolean }): Promise<void>;
}

export const nodeFileSystem: FileSystem = {
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  mkdir: async (path, options) => {
    await fsp.mkdir(path, options);
  },
  readdir: (path) => fsp.readdir(path),
  readFile: (path) => fsp.readFile(path),
  rm: (path, options) => fsp.rm(path, options),
};

/** Creates `path` (failing if it exists) with `data`, flushed to disk before returning. */
export async function writeFileDurable(
  path: string,
  data: Uint8Array | string,
  fs: FileSystem = nodeFileSystem,
): Promise<void> {
  const fh = await fs.open(path, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory's entries (created, renamed files) to disk. */
export async function fsyncDir(path: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const fh = await fs.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
