import { open } from 'node:fs/promises';

/** Creates `path` (failing if it exists) with `data`, flushed to disk before returning. */
export async function writeFileDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory's entries (created, renamed files) to disk. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
