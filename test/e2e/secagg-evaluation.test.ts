import { describe, expect, it } from 'vitest';
import type { ClientMessage } from '../../server/client-link.js';
import { classMetrics, sumConfusions } from '../../shared/aggregation/class-metrics.js';
import { encodeEvaluation, secureEvaluationEncoding } from '../../shared/aggregation/secure-evaluation.js';
import { shard, type Dataset } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { setFlatWeights } from '../../shared/model/weights.js';
import { buildModel } from '../../shared/task.js';
import { evaluate, type EvalResult } from '../../shared/training.js';
import { nextRounds } from './helpers.js';
import {
  secureSuite,
  startSecureClient,
  startSecureCoordinator,
  weightsOf,
  type SecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * Federated evaluation under secure aggregation, live: real coordinator and NodeClients over
 * socket.io on MNIST digits. The evaluators run a SecAgg+ session of their own; the round record
 * must hold exactly the plaintext sum of the survivors' own confusion matrices, and nothing a
 * client sent during evaluation may carry one client's figures.
 */

const N = 6;
/** 100 held-out test digits per client. */
const heldOut = (i: number): Dataset => shard(loadMnist().test, i, 20);

const suite = secureSuite();

interface Received {
  clientId: string;
  message: ClientMessage;
}

/** A secure coordinator that evaluates on every client; `received` spies on every message its transport hands it. */
async function coordinator(
  downgradeEvaluation?: (clientId: string) => boolean,
): Promise<{ server: SecureCoordinator; received: Received[] }> {
  const server = await startSecureCoordinator(
    suite.dataDir(),
    suite.model(),
    N,
    {
      rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000, evaluationTimeoutMs: 8_000 },
      strategy: { sampler: { minClients: N, maxClients: N }, evaluation: { fraction: 1, minClients: N } },
      secureAggregation: { enabled: true, phaseTimeoutMs: 4_000 },
    },
    downgradeEvaluation ? { downgradeEvaluation } : {},
  );
  suite.defer(() => server.close());
  const received: Received[] = [];
  const receive = server.coordinator.receive.bind(server.coordinator);
  server.coordinator.receive = (clientId, message) => {
    received.push({ clientId, message });
    return receive(clientId, message);
  };
  return { server, received };
}

function clients(url: string, extra: (i: number) => Parameters<typeof startSecureClient>[3] = () => ({})) {
  const cs: SecureTestClient[] = Array.from({ length: N }, (_, i) => {
    const c = startSecureClient(url, i, `c${i}`, { evalData: heldOut(i), ...extra(i) });
    suite.defer(() => c.stop());
    return c;
  });
  return cs;
}

/** Every number anywhere in `value`, byte arrays aside (keys, masked words, sealed shares are opaque bytes). */
function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return [];
  return Object.values(value as Record<string, unknown>).flatMap(numbersIn);
}

/** What client `i` scores on its own held-out digits with `weights`. */
async function ownEvaluation(server: SecureCoordinator, weights: Float32Array, i: number): Promise<EvalResult> {
  const model = await buildModel(server.coordinator.task.modelTopology);
  setFlatWeights(model, weights);
  const result = await evaluate(model, { ...heldOut(i), numClasses: 10 });
  model.dispose();
  return result;
}

describe('secure federated evaluation', () => {
  it('6 evaluators, one lost mid-session: the record holds the exact sum of the 5 survivors, and no client figure reached the coordinator', async () => {
    const { server, received } = await coordinator();
    const done = nextRounds(server, 1);
    const cs = clients(server.url, (i) =>
      i === 4
        ? {
            secAggBeforeSend: (stage, _round, session) => {
              if (session === 'evaluation' && stage === 'masked-input') cs[4].client.stop();
            },
          }
        : {},
    );
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    const fe = record.federatedEvaluation!;
    const survivors = cs.filter((_, i) => i !== 4);
    expect(fe.reported).toEqual(survivors.map((c) => c.name));
    expect(fe.missing).toEqual(['c4']);
    expect(fe.secure).toMatchObject({ stage: 'unmask', dropouts: [{ clientId: 'c4', stage: 'masked-input' }] });
    expect(fe.secure!.aborted).toBeUndefined();

    // The survivors' own figures, computed here from the committed weights and their held-out digits.
    const weights = await weightsOf(server.url, record.version!);
    const own = await Promise.all(survivors.map((_, j) => ownEvaluation(server, weights, j < 4 ? j : j + 1)));
    const confusion = sumConfusions(own.map((e) => e.confusion));
    const examples = own.reduce((a, e) => a + e.numExamples, 0);
    expect(fe.confusion).toEqual(confusion);
    expect(fe.numExamples).toBe(examples);
    expect(fe.numExamples).toBe(500);
    expect(fe.perClass).toEqual(classMetrics(confusion));
    expect(fe.accuracy).toBe(confusion.reduce((a, row, c) => a + row[c], 0) / examples);
    const loss = own.reduce((a, e) => a + e.loss * e.numExamples, 0) / examples;
    expect(Math.abs(fe.loss! - loss)).toBeLessThanOrEqual(fe.secure!.lossErrorBound!);
    expect(fe.secure!.lossErrorBound).toBeLessThan(1e-3);
    // No per-client figure in the record: only ids.
    expect(JSON.stringify(fe)).not.toMatch(/"(contributions|metrics)"/);

    // What the coordinator received: no plaintext report, and no number but the round in any evaluation message.
    expect(received.filter((r) => r.message.kind === 'evaluation')).toEqual([]);
    const evaluation = received.filter((r) => r.message.kind === 'secagg-evaluation');
    expect(new Set(evaluation.map((r) => r.clientId))).toEqual(new Set(cs.map((c) => c.name)));
    for (const { message } of evaluation) {
      if (message.kind !== 'secagg-evaluation') continue;
      expect(new Set(numbersIn(message.body))).toEqual(new Set([record.round]));
    }
    // Each masked input is masked: its words are not the client's counts.
    const enc = secureEvaluationEncoding(N, 10);
    for (const { clientId, message } of evaluation) {
      if (message.kind !== 'secagg-evaluation' || message.body.type !== 'secagg/masked-input') continue;
      const i = Number(clientId.slice(1));
      const plain = encodeEvaluation(own[i < 4 ? i : i - 1], enc);
      const words = new Uint32Array(message.body.masked.slice().buffer, 0, enc.vectorLength);
      const same = plain.reduce((a, v, j) => a + (j < 100 && words[j] === v ? 1 : 0), 0);
      expect(same, `${clientId}: coordinates sent as the plain count`).toBeLessThan(3);
    }
    for (const c of survivors) {
      expect(c.lines.join('\n')).toMatch(
        /scored on 100 local held-out examples .*the scores go into the secure sum only/,
      );
      expect(c.lines).toContain(`round ${record.round}: masked evaluation accepted`);
    }
  });

  it('downgrade: a client that ran secure rounds refuses a plaintext evaluation request and sends nothing', async () => {
    const { server, received } = await coordinator((id) => id === 'c0');
    const done = nextRounds(server, 1);
    const cs = clients(server.url);
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    expect(cs[0].lines).toContain(
      `round ${record.round}: refusing the evaluation request and sending nothing: it asks for metrics in the clear after this coordinator ran secure sessions with us (downgrade refused)`,
    );
    expect(received.filter((r) => r.clientId === 'c0' && r.message.kind !== 'secagg')).toEqual([]);
    expect(received.filter((r) => r.message.kind === 'evaluation')).toEqual([]);
    // The others evaluated securely without it.
    const fe = record.federatedEvaluation!;
    expect(fe.reported).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(fe.secure!.dropouts).toEqual([{ clientId: 'c0', stage: 'advertise-keys' }]);
    expect(fe.numExamples).toBe(500);
  });
});
