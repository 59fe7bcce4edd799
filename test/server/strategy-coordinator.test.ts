import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { classMetrics, sumConfusions } from '../../shared/aggregation/class-metrics.js';
import { loadDataSpecSync } from '../../shared/data/data-spec.node.js';
import { NodeClient } from '../../client/node-client.js';
import type { Dataset } from '../../shared/data/dataset.js';
import { createSeedCnn } from '../../shared/model/seed-cnn.js';
import { setFlatWeights } from '../../shared/model/weights.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type TrainTask, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import { evaluate } from '../../shared/training.js';
import {
  collectingProgress,
  JOIN_TOKEN,
  nextRounds,
  startTestCoordinator,
  tempDir,
  coordinatorSuite,
} from '../e2e/helpers.js';

/**
 * The strategy section on a live coordinator over socket.io: FedProx mu travels with the round,
 * the configured server optimizer moves the model, and clients holding a held-out split score every
 * new model on it (federated evaluation), recorded with the round as an example-weighted mean.
 */

const cleanup = coordinatorSuite();

describe('strategy and federated evaluation on the coordinator', () => {
  it('sends FedProx mu, evaluates on the clients that hold held-out data, and records the weighted metrics', async () => {
    const dir = await tempDir();
    cleanup.push(dir.remove);
    const server = await startTestCoordinator(dir.path, {
      eval: 'mnist:test',
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 60_000, evaluationTimeoutMs: 60_000 },
      strategy: {
        sampler: { minClients: 3 },
        proximalMu: 0.01,
        serverOptimizer: { kind: 'fedadam', eta: 0.01 },
        evaluation: { fraction: 1, minClients: 2, centralized: true },
      },
    });
    cleanup.push(() => server.close());

    // Two clients with held-out splits of different sizes, and a bare socket with none.
    const heldOut: Record<string, Dataset> = {
      'eval-a': loadDataSpecSync('mnist:40/80'),
      'eval-b': loadDataSpecSync('mnist:0/160'),
    };
    const lines: string[] = [];
    for (const [name, evalData] of Object.entries(heldOut)) {
      const client = new NodeClient({
        server: server.url,
        token: JOIN_TOKEN,
        name,
        data: loadDataSpecSync(`mnist:${name === 'eval-a' ? 1 : 2}/80`),
        evalData,
        progress: collectingProgress(lines),
      });
      const done = client.run();
      done.catch(() => undefined);
      cleanup.push(async () => {
        client.stop();
        await done.catch(() => undefined);
      });
    }
    const bare: Socket = io(server.url, {
      auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, name: 'bare' },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    cleanup.push(async () => {
      bare.disconnect();
    });
    const evaluateRequests: unknown[] = [];
    bare.on(EVENTS.evaluate, (body: unknown) => evaluateRequests.push(body));
    const task = new Promise<TrainTask>((resolve) =>
      bare.once(EVENTS.train, (envelope: unknown) => resolve(decodeEnvelope(envelope) as TrainTask)),
    );

    const round = nextRounds(server, 1);
    const before = server.coordinator.currentWeights();
    server.coordinator.startRounds(1);
    const train = await task;
    expect(train.config).toMatchObject({
      proximalMu: 0.01,
      epochs: 1,
      batchSize: 32,
      learningRate: 0.1,
      optimizer: 'sgd',
    });
    const n = server.coordinator.task.info.parameterCount;
    const meta = { round: 1, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };
    expect(
      await bare.timeout(10_000).emitWithAck(EVENTS.update, meta, encodeWeights(new Float32Array(n))),
    ).toMatchObject({ ok: true } satisfies Partial<Ack>);

    const [record] = await round;
    expect(record.status).toBe('committed');
    expect(record.contributions.map((c) => c.clientId)).toEqual(['bare', 'eval-a', 'eval-b']);
    const fe = record.federatedEvaluation!;
    expect(fe.selected).toEqual(['eval-a', 'eval-b']);
    expect(fe.reported).toEqual(['eval-a', 'eval-b']);
    expect(fe.missing).toEqual([]);
    expect(evaluateRequests).toEqual([]);

    // The recorded metrics are the example-weighted mean of each client's score of the committed model.
    const weights = server.coordinator.currentWeights();
    const model = createSeedCnn();
    cleanup.push(async () => {
      model.dispose();
    });
    setFlatWeights(model, weights);
    const scores = await Promise.all(Object.values(heldOut).map((ds) => evaluate(model, ds)));
    const total = scores.reduce((s, r) => s + r.numExamples, 0);
    expect(fe.numExamples).toBe(total);
    expect(fe.accuracy).toBeCloseTo(scores.reduce((s, r) => s + r.accuracy * r.numExamples, 0) / total, 6);
    expect(fe.loss).toBeCloseTo(scores.reduce((s, r) => s + r.loss * r.numExamples, 0) / total, 5);
    // Per class: the clients' confusion matrices summed, and precision/recall from the sum.
    const summed = sumConfusions(scores.map((r) => r.confusion));
    expect(fe.confusion).toEqual(summed);
    expect(fe.perClass).toEqual(classMetrics(summed));
    // Centralized evaluation on the coordinator's held-out digits too, per class as well.
    expect(record.evaluation!.numExamples).toBe(2000);
    expect(record.evaluation!.confusion!.flat().reduce((a, b) => a + b, 0)).toBe(2000);
    expect(record.evaluation!.perClass!.reduce((a, c) => a + c.recall * c.support, 0) / 2000).toBeCloseTo(
      record.evaluation!.accuracy,
      9,
    );

    // FedAdam with eta 0.01 moves each weight by at most about eta in its first step.
    let largest = 0;
    for (let i = 0; i < n; i++) largest = Math.max(largest, Math.abs(weights[i] - before[i]));
    expect(largest).toBeLessThanOrEqual(0.01 * 1.0001);
    expect(largest).toBeGreaterThan(0.001);

    expect(
      lines.some((l) => /round 1: version 1 scores \d+\.\d% \(loss \d+\.\d{4}\) on 50 local held-out examples/.test(l)),
    ).toBe(true);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`fedserve_federated_evaluation_accuracy ${fe.accuracy}`);
    expect(metrics).toContain(`fedserve_heldout_class_accuracy{class="3"} ${record.evaluation!.perClass![3].recall}`);
    expect(metrics).toContain(`fedserve_federated_evaluation_class_accuracy{class="0"} ${fe.perClass![0].recall}`);
  });
});
