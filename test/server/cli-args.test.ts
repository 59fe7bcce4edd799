import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundPolicy } from '../../server/app.js';
import { serverConfigFromArgs } from '../../server/cli-args.js';

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
    expect(roundPolicy(c)).toEqual({ minClients: 2, maxClients: Infinity, minResults: 1, selectionWindowMs: 1000, trainingTimeoutMs: 120000 });
  });

  it('lets flags override the file and the environment supply tokens', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({ port: 9000, rounds: { trainingTimeoutMs: 5000 }, strategy: { sampler: { minClients: 3 }, aggregator: { kind: 'median' } } }),
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
    expect(serverConfigFromArgs(['--join-token', 'from-the-flag'], { FEDSERVE_JOIN_TOKEN: 'join-from-env' }).joinToken).toBe('from-the-flag');
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
