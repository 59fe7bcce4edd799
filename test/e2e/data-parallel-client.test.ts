import { describe, expect, it } from 'vitest';
import { DataParallelTrainer } from '../../client/data-parallel-trainer.js';
import { loadDataSpecSync } from '../../shared/data/data-spec.node.js';
import { NodeClient } from '../../client/node-client.js';
import {
  collectingProgress,
  coordinatorSuite,
  JOIN_TOKEN,
  nextRounds,
  startTestCoordinator,
  tempDir,
} from './helpers.js';

/** `fedserve client --threads 2` end to end: the round's result is the one-thread client's. */

const cleanup = coordinatorSuite();

/** Version 1 of the global model after one round trained by one client on `threads` threads. */
async function oneRound(threads: number): Promise<{ weights: Float32Array; lines: string[] }> {
  const dir = await tempDir();
  const server = await startTestCoordinator(dir.path, {
    rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 120_000 },
    strategy: { sampler: { minClients: 1, maxClients: 1 } },
  });
  cleanup.push(dir.remove, () => server.close());
  const lines: string[] = [];
  const client = new NodeClient({
    server: server.url,
    token: JOIN_TOKEN,
    data: loadDataSpecSync('mnist:0/200'),
    name: `threads-${threads}`,
    progress: collectingProgress(lines),
    localTrainer: new DataParallelTrainer({ threads }),
  });
  const done = client.run();
  cleanup.push(async () => {
    client.stop();
    await done.catch(() => undefined);
  });
  const [record] = await nextRounds(server, 1);
  expect([record.status, record.contributions.length]).toEqual(['committed', 1]);
  const res = await fetch(`${server.url}/v1/models/mnist/versions/1/weights.bin`);
  expect(res.status).toBe(200);
  return { weights: new Float32Array(await res.arrayBuffer()), lines };
}

describe('a client training on 2 threads', () => {
  it('contributes the same update as on one thread', async () => {
    const one = await oneRound(1);
    const two = await oneRound(2);
    expect(two.weights).toHaveLength(one.weights.length);
    let diff = 0;
    for (let i = 0; i < one.weights.length; i++) diff = Math.max(diff, Math.abs(one.weights[i] - two.weights[i]));
    expect(diff).toBeLessThanOrEqual(1e-5);
    expect(two.lines.join('\n')).not.toMatch(/this thread only/);
  });
});
