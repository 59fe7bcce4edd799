import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../shared/data/idx.js';
import { BIN } from '../e2e/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function fedserve(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FEDSERVE_JOIN_TOKEN: '' },
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('fedserve client (process exit codes)', () => {
  it('exits 1 naming a missing data file, a malformed one, and missing flags', async () => {
    const missing = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--data',
      join(dir, 'nope.csv'),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`fedserve: data file ${join(dir, 'nope.csv')} does not exist\n`);

    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'a,label\n1,0\n2\n');
    const malformed = fedserve('client', '--server', 'http://127.0.0.1:1', '--token', 'tok-12345', '--data', bad);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toBe(`fedserve: ${bad} line 3 has 1 fields, the header has 2\n`);

    const flags = fedserve('client', '--data', 'mnist:0/4');
    expect(flags.code).toBe(1);
    expect(flags.stderr).toContain('missing --server, --token (or FEDSERVE_JOIN_TOKEN)');

    const split = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--data',
      'mnist:0/4',
      '--eval-split',
      '1.5',
    );
    expect(split.code).toBe(1);
    expect(split.stderr).toBe("fedserve: --eval-split needs a fraction in [0, 1), got '1.5'\n");

    for (const threads of ['0', '1.5', 'all']) {
      const bad = fedserve(
        'client',
        '--server',
        'http://127.0.0.1:1',
        '--token',
        'tok-12345',
        '--data',
        'mnist:0/4',
        '--threads',
        threads,
      );
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe(`fedserve: --threads needs a positive whole number, got '${threads}'\n`);
    }

    const both = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--token-file',
      bad,
      '--data',
      'mnist:0/4',
    );
    expect(both.code).toBe(1);
    expect(both.stderr).toBe('fedserve: give --token or --token-file, not both\n');
    const unreadable = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token-file',
      join(dir, 'no.token'),
      '--data',
      'mnist:0/4',
    );
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toBe(`fedserve: --token-file ${join(dir, 'no.token')} cannot be read: ENOENT\n`);

    const noise = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--data',
      'mnist:0/4',
      '--min-noise-multiplier',
      'lots',
    );
    expect(noise.code).toBe(1);
    expect(noise.stderr).toBe("fedserve: --min-noise-multiplier needs a positive number, got 'lots'\n");
    const clip = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--data',
      'mnist:0/4',
      '--max-clip-norm',
      '0',
    );
    expect(clip.code).toBe(1);
    expect(clip.stderr).toBe("fedserve: --max-clip-norm needs a positive number, got '0'\n");
  });

  it('exits 1 naming a truncated IDX file and a missing Fashion-MNIST package', async () => {
    const images = join(dir, 'images.idx');
    const labels = join(dir, 'labels.idx');
    await writeFile(images, encodeIdx([4, 28, 28], new Uint8Array(4 * 784)).subarray(0, 100));
    await writeFile(labels, encodeIdx([4], [0, 1, 2, 3]));
    const truncated = fedserve(
      'client',
      '--server',
      'http://127.0.0.1:1',
      '--token',
      'tok-12345',
      '--data',
      `idx:${images},${labels}:0/2`,
    );
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toBe(
      `fedserve: ${images}: truncated: its header declares dimensions 4 x 28 x 28 = 3136 values, the file holds 84\n`,
    );
    const r = spawnSync(
      process.execPath,
      [BIN, 'client', '--server', 'http://127.0.0.1:1', '--token', 'tok-12345', '--data', 'fashion-mnist:0/10'],
      {
        encoding: 'utf8',
        env: { ...process.env, FEDSERVE_JOIN_TOKEN: '', FEDSERVE_FASHION_MNIST_DIR: join(dir, 'not-installed') },
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Fashion-MNIST is not installed');
    expect(r.stderr).toContain('apt-get install dataset-fashion-mnist');
  });

  it('fedserve simulate exits 1 naming a missing flag or an invalid config', async () => {
    const flags = fedserve('simulate', '--config', join(dir, 'x.json'));
    expect(flags.code).toBe(1);
    expect(flags.stderr).toMatch(/^fedserve: missing --out/);
    const config = join(dir, 'sim.json');
    await writeFile(
      config,
      JSON.stringify({ name: 'x', clients: 2, partition: { kind: 'iid' }, rounds: 0, runs: [{ label: 'a' }] }),
    );
    const invalid = fedserve('simulate', '--config', config, '--out', join(dir, 'out'));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(
      /^fedserve: invalid simulation config \(.*sim\.json\):\n✖ Too small: expected number to be >=1\n  → at rounds/,
    );
  });
});
