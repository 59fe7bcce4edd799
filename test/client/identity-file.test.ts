import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../client/identity-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-identity-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('identity file', () => {
  it('creates an owner-only seed file on first use and returns the same key pair after', async () => {
    const path = join(dir, 'alice.key');
    const first = loadOrCreateIdentity(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const again = loadOrCreateIdentity(path);
    expect(again.publicKey).toEqual(first.publicKey);
    const message = new TextEncoder().encode('round 1 keys');
    expect(nacl.sign.detached.verify(message, nacl.sign.detached(message, again.secretKey), first.publicKey)).toBe(
      true,
    );
  });

  it('refuses a file that holds no seed', async () => {
    const path = join(dir, 'bad.key');
    await writeFile(path, 'not a seed\n');
    expect(() => loadOrCreateIdentity(path)).toThrow(
      `identity file ${path} must hold a 32-byte Ed25519 seed as 64 hex digits`,
    );
  });
});
