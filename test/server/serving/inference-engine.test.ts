import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend, type BackendName } from '../../../shared/engine/backend.js';
import { createSeedCnn } from '../../../shared/model/seed-cnn.js';
import {
  InferenceEngine,
  type InferenceEngineOptions,
  type RestartEvent,
} from '../../../server/serving/inference-engine.js';
import { ModelRegistry } from '../../../server/serving/model-registry.js';
import { LocalRunner } from '../../../server/serving/model-runner.js';
import { artifactFromModel } from '../../../server/serving/served-model.js';
import { CheckpointStore } from '../../../server/store/checkpoint-store.js';
import { silentLogger } from '../../../server/logger.js';

let engine: InferenceEngine;
let dir: string;
const model = createSeedCnn(5);
const artifact = artifactFromModel(model);

function inputs(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 784 }, () => (s = (s * 16807) % 2147483647) / 2147483647);
}

beforeAll(async () => {
  const backend = await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
  engine = await InferenceEngine.start(backend);
  dir = await mkdtemp(join(tmpdir(), 'fedserve-engine-'));
});
afterAll(async () => {
  await engine.close();
  model.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('InferenceEngine', () => {
  it('predicts on its thread as the same model does on this one, for views into larger buffers too', async () => {
    const remote = await engine.load(artifact);
    const local = await LocalRunner.load(artifact);
    expect(remote.signature).toEqual(local.signature);
    const big = inputs(12, 3);
    const view = big.subarray(2 * 784, 9 * 784);
    const want = await local.predict(view, 7, 4);
    const got = await remote.predict(view, 7, 4);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    // The caller's buffer is untouched (inputs are copied, not transferred).
    expect(view.length).toBe(7 * 784);
    local.dispose();
    remote.dispose();
    await expect(remote.predict(view, 7, 4)).rejects.toThrow(/is not loaded in the inference thread/);
  });

  it('reports a model that fails to load', async () => {
    await expect(engine.load({ ...artifact, modelTopology: { nonsense: true } })).rejects.toThrow();
  });

  it('serves a registry whose versions live on the thread, identical to one on this thread', async () => {
    const store = new CheckpointStore(dir, { logger: silentLogger() });
    const threaded = new ModelRegistry(store, { engine });
    const plain = new ModelRegistry(store);
    await threaded.publish(1, model);
    await plain.publish(1, model);
    const x = inputs(5, 9);
    const [a, b] = await Promise.all([threaded.current()!.predict(x, 5), plain.current()!.predict(x, 5)]);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 6));
    const before = tf.memory().numTensors;
    await threaded.current()!.predict(x, 5);
    // Nothing is allocated on this thread's backend.
    expect(tf.memory().numTensors).toBe(before);
    threaded.dispose();
    plain.dispose();
  });

  it('fails every call once closed', async () => {
    const other = await InferenceEngine.start(tf.getBackend() as BackendName);
    const runner = await other.load(artifact);
    await other.close();
    await expect(runner.predict(inputs(1, 1), 1, 1)).rejects.toThrow(/the inference engine was closed/);
    await expect(other.load(artifact)).rejects.toThrow(/closed/);
  });
});

/** Kills an engine's thread as a crash would (the test reaches into the private field). */
function kill(e: InferenceEngine): Promise<number> {
  return (e as unknown as { worker: Worker }).worker.terminate();
}

/** An engine whose restarts are reported through `events`; `next()` resolves at the next one. */
async function restartable(options: InferenceEngineOptions = {}) {
  const events: RestartEvent[] = [];
  let wake: (() => void) | undefined;
  const e = await InferenceEngine.start(tf.getBackend() as BackendName, {
    ...options,
    onRestart: (event) => {
      events.push(event);
      wake?.();
    },
  });
  const next = () => new Promise<void>((resolve) => (wake = resolve));
  return { engine: e, events, next };
}

describe('InferenceEngine after its thread dies', () => {
  it('fails the calls the thread held, restarts it with every loaded model, and serves on', async () => {
    const { engine: e, events, next } = await restartable();
    try {
      const a = await e.load(artifact);
      const other = createSeedCnn(8);
      const b = await e.load(artifactFromModel(other));
      const x = inputs(3, 4);
      const wantA = await a.predict(x, 3, 3);
      const wantB = await b.predict(x, 3, 3);
      const held = a.predict(inputs(64, 2), 64, 64);
      const restarted = next();
      await kill(e);
      await expect(held).rejects.toThrow(/^the inference thread exited with code 1$/);
      // Calls made while the thread restarts wait for it, then run on the reloaded models.
      const during = b.predict(x, 3, 3);
      await restarted;
      expect(events).toEqual([{ reason: 'exited with code 1', restarts: 1, ok: true }]);
      expect(await during).toEqual(wantB);
      expect(await a.predict(x, 3, 3)).toEqual(wantA);
      other.dispose();
    } finally {
      await e.close();
    }
  });

  it('does not load again a model unloaded before the restart', async () => {
    const { engine: e, next } = await restartable();
    try {
      const kept = await e.load(artifact);
      const dropped = await e.load(artifact);
      dropped.dispose();
      const restarted = next();
      await kill(e);
      await restarted;
      await expect(dropped.predict(inputs(1, 1), 1, 1)).rejects.toThrow(/is not loaded in the inference thread/);
      expect((await kept.predict(inputs(1, 1), 1, 1)).length).toBe(10);
    } finally {
      await e.close();
    }
  });

  it('gives up after maxRestarts deaths within the window, failing every call with why', async () => {
    const { engine: e, events, next } = await restartable({ maxRestarts: 1, restartWindowMs: 60_000 });
    try {
      const runner = await e.load(artifact);
      let event = next();
      await kill(e);
      await event;
      event = next();
      await kill(e);
      await event;
      expect(events.map((v) => v.ok)).toEqual([true, false]);
      expect(events[1]).toMatchObject({ restarts: 2, error: expect.stringMatching(/inference is off$/) as unknown });
      const why = /^the inference thread exited with code 1, after 1 restarts within 60 s: inference is off$/;
      await expect(runner.predict(inputs(1, 1), 1, 1)).rejects.toThrow(why);
      await expect(e.load(artifact)).rejects.toThrow(why);
    } finally {
      await e.close();
    }
  });

  it('counts only the deaths within the window', async () => {
    const { engine: e, events, next } = await restartable({ maxRestarts: 1, restartWindowMs: 1 });
    try {
      const runner = await e.load(artifact);
      for (let i = 0; i < 3; i++) {
        const event = next();
        await kill(e);
        await event;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(events.map((v) => [v.ok, v.restarts])).toEqual([
        [true, 1],
        [true, 1],
        [true, 1],
      ]);
      expect((await runner.predict(inputs(1, 1), 1, 1)).length).toBe(10);
    } finally {
      await e.close();
    }
  });

  it('does not restart a thread it closed', async () => {
    const { engine: e, events } = await restartable();
    await e.load(artifact);
    await e.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([]);
  });
});

describe('InferenceEngine.close', () => {
  // A fresh process whose only work is the engine: an answer that the thread posted before close()
  // and that arrives after it once dropped the reference terminate() holds, and the process ended
  // with close() unsettled (exit code 13: the packed package's README example died of it).
  it('keeps the process alive until the thread has exited, when an answer arrives after close()', () => {
    const script = `
      import { setupBackend } from './shared/engine/backend.ts';
      import { createSeedCnn } from './shared/model/seed-cnn.ts';
      import { InferenceEngine } from './server/serving/inference-engine.ts';
      import { artifactFromModel } from './server/serving/served-model.ts';
      const backend = await setupBackend(undefined, { log: () => {}, argv: [], env: {} });
      const engine = await InferenceEngine.start(backend);
      const runner = await engine.load(artifactFromModel(createSeedCnn(5)));
      void runner.predict(new Float32Array(8 * 784), 8, 8).then(() => console.log('answered'));
      // Busy here, so the thread answers before close() and the answer is handled after it.
      const until = Date.now() + 500;
      while (Date.now() < until);
      await engine.close();
      console.log('closed');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n').filter(Boolean)).toEqual(['answered', 'closed']);
    expect(run.status).toBe(0);
  }, 70_000);
});
