import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundPolicy } from '../../server/app.js';
import { serverConfigFromArgs } from '../../cli/server-args.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-cfg-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('server flags and config file', () => {
  it('fills defaults', () => {
    const c = serverConfigFromArgs([], {});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: '.fedserve', task: 'mnist' });
    expect(c.training).toEqual({ epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' });
    expect(c.strategy.aggregator).toEqual({ kind: 'weighted-mean' });
    expect(roundPolicy(c)).toEqual({
      minClients: 2,
      maxClients: Infinity,
      minResults: 1,
      selectionWindowMs: 1000,
      trainingTimeoutMs: 120000,
    });
  });

  it('runs alone unless --cluster names a Redis; the cluster keys default', () => {
    expect(serverConfigFromArgs([], {}).cluster).toBeUndefined();
    const c = serverConfigFromArgs(['--cluster', 'redis://10.0.0.5:6379', '--node-id', 'edge-1'], {});
    expect(c.cluster).toEqual({
      redis: 'redis://10.0.0.5:6379',
      nodeId: 'edge-1',
      namespace: 'fedserve',
      leaseMs: 5_000,
      heartbeatMs: 1_000,
      commitMarginMs: 500,
    });
    expect(() => serverConfigFromArgs(['--cluster', 'localhost:6379'], {})).toThrow(
      /redis:\/\/HOST:PORT URL[\s\S]*cluster\.redis/,
    );
  });

  it('lets flags override the file and the environment supply tokens', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        port: 9000,
        rounds: { trainingTimeoutMs: 5000 },
        strategy: { sampler: { minClients: 3 }, aggregator: { kind: 'median' } },
      }),
    );
    const c = serverConfigFromArgs(['--config', file, '--port', '0', '--min-clients', '4', '--learning-rate', '0.05'], {
      FEDSERVE_JOIN_TOKEN: 'join-from-env',
      FEDSERVE_ADMIN_TOKEN: 'admin-from-env',
    });
    expect(c.port).toBe(0);
    expect(c.rounds.trainingTimeoutMs).toBe(5000);
    expect(c.strategy.sampler.minClients).toBe(4);
    expect(c.strategy.aggregator).toEqual({ kind: 'median' });
    expect(c.training.learningRate).toBe(0.05);
    expect(c).toMatchObject({ joinToken: 'join-from-env', adminToken: 'admin-from-env' });
    expect(
      serverConfigFromArgs(['--join-token', 'from-the-flag'], { FEDSERVE_JOIN_TOKEN: 'join-from-env' }).joinToken,
    ).toBe('from-the-flag');
  });

  it('reads tokens from files, kept out of the process list, and names a bad one', async () => {
    const joinFile = join(dir, 'join.token');
    const adminFile = join(dir, 'admin.token');
    await writeFile(joinFile, '  join-from-file-123  \nsecond line ignored\n');
    await writeFile(adminFile, 'admin-from-file-456\r\n');
    const config = serverConfigFromArgs(['--join-token-file', joinFile, '--admin-token-file', adminFile], {
      FEDSERVE_JOIN_TOKEN: 'from-the-env-789',
    });
    expect(config.joinToken).toBe('join-from-file-123');
    expect(config.adminToken).toBe('admin-from-file-456');
    expect(() => serverConfigFromArgs(['--join-token-file', joinFile, '--join-token', 'both-given-123'], {})).toThrow(
      'give --join-token or --join-token-file, not both',
    );
    expect(() => serverConfigFromArgs(['--admin-token-file', join(dir, 'missing.token')], {})).toThrow(
      `--admin-token-file ${join(dir, 'missing.token')} cannot be read: ENOENT`,
    );
    const empty = join(dir, 'empty.token');
    await writeFile(empty, '\n\n');
    expect(() => serverConfigFromArgs(['--join-token-file', empty], {})).toThrow(
      `--join-token-file ${empty} holds no token on its first line`,
    );
    const short = join(dir, 'short.token');
    await writeFile(short, 'abc\n');
    expect(() => serverConfigFromArgs(['--join-token-file', short], {})).toThrow(/at least 8 characters/);
  });

  it('names what is wrong', async () => {
    expect(() => serverConfigFromArgs(['--port', 'eighty'], {})).toThrow("--port needs an integer, got 'eighty'");
    expect(() => serverConfigFromArgs(['--prot', '1'], {})).toThrow(/Unknown option '--prot'/);
    expect(() => serverConfigFromArgs(['--optimizer', 'rmsprop'], {})).toThrow(/training\.optimizer/);
    expect(() => serverConfigFromArgs(['--join-token', 'short'], {})).toThrow(/at least 8 characters/);
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ roundz: {} }));
    expect(() => serverConfigFromArgs(['--config', typo], {})).toThrow(/roundz/);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{');
    expect(() => serverConfigFromArgs(['--config', broken], {})).toThrow(`config file ${broken} is not valid JSON`);
    expect(() => roundPolicy(serverConfigFromArgs(['--min-results', '3'], {}))).toThrow(
      'rounds.minResults (3) cannot exceed the clients a round starts with (2)',
    );
  });
});
