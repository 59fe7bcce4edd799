import { describe, expect, it } from 'vitest';
import { CoordinateMedian } from '../../../shared/aggregation/median.js';
import type { Aggregator } from '../../../shared/aggregation/types.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { Outbound, ProtocolEffect, RoundContext } from '../../../server/round/aggregation-protocol.js';
import { SecAggProtocol, type SecAggProtocolOptions } from '../../../server/round/secagg-protocol.js';
import { SecureTrainSectionSchema } from '../../../shared/protocol/secagg-messages.js';
import { packSecureVector } from '../../../shared/protocol/secagg-vector.js';
import { trainTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  generateIdentity,
  SecAggClient,
  SecAggClientMessageSchema,
  SecAggServerMessageSchema,
  type IdentityKeyPair,
} from '../../../shared/secagg/index.js';

/**
 * The SecAgg+ round protocol on its own: in-memory SecAggClients, a manual clock. Checks the
 * stage order, stage deadlines that close a stage without a silent client, the abort cases and
 * what the round record shows; the socket tests (test/e2e/secagg*.test.ts) cover the wire.
 */

const M = 6;
const PHASE_MS = 1_000;
const TRAIN_MS = 10_000;

/** Plays the round runtime for the protocol: a manual clock, the messages it sends, the stage closes it awaits. */
class Driver {
  time = 0;
  sent: Outbound[] = [];
  constructor(private readonly protocol: SecAggProtocol) {}
  run(effects: ProtocolEffect[]): void {
    for (const effect of effects) {
      if (effect.type === 'send') this.sent.push(effect.message);
      else void effect.work.then((next) => this.run(next(this.time)));
    }
  }
  /** What the runtime does after an event: let the protocol move on. */
  advance(): void {
    this.run(this.protocol.advance(this.time));
  }
  /** Moves the clock, calling advance() if the protocol's deadline passed. */
  wait(ms: number): void {
    this.time += ms;
    const deadline = this.protocol.deadline;
    if (deadline !== undefined && deadline <= this.time) this.advance();
  }
}

/** Lets the protocol's async stage closes (and Shamir's async combine) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

interface Harness {
  driver: Driver;
  protocol: SecAggProtocol;
  identities: Map<string, IdentityKeyPair>;
  clients: Map<string, SecAggClient>;
  deltas: Map<string, Float32Array>;
}

function harness(
  ids: string[],
  options: Partial<SecAggProtocolOptions> = {},
  aggregator: Aggregator = new WeightedMean(),
): Harness {
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const ctx: RoundContext = {
    round: 7,
    version: 3,
    globalWeights: new Float32Array(M),
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: TRAIN_MS,
    aggregator,
  };
  const protocol = new SecAggProtocol(ctx, {
    graph: {},
    clip: 1,
    maxWeight: 1000,
    phaseTimeoutMs: PHASE_MS,
    slots: [{ kind: 'loss', range: 100 }],
    identityOf: (id) => identities.get(id)?.publicKey,
    ...options,
  });
  const deltas = new Map(
    ids.map((id, i) => [id, Float32Array.from({ length: M }, (_, j) => ((i + 1) * (j - 2)) / 20)]),
  );
  return { driver: new Driver(protocol), protocol, identities, clients: new Map(), deltas };
}

/** Delivers what the protocol sent, to the clients in `answering`, and their replies back; returns the stage messages delivered. */
async function exchange(h: Harness, answering: Set<string>): Promise<number> {
  const outbound = h.driver.sent;
  h.driver.sent = [];
  for (const message of outbound) {
    if (!answering.has(message.to)) continue;
    let reply: unknown;
    if (message.event === 'train') {
      const section = SecureTrainSectionSchema.parse(message.body.secureAggregation);
      const client = new SecAggClient({
        id: message.to,
        identity: h.identities.get(message.to)!,
        setup: section.setup,
        digest: trainTaskDigest(message.body, message.weights),
      });
      h.clients.set(message.to, client);
      reply = await client.advertise();
    } else {
      const body = SecAggServerMessageSchema.parse(message.body);
      const client = h.clients.get(message.to)!;
      if (body.type === 'secagg/peer-keys') reply = await client.shareKeys(body);
      else if (body.type === 'secagg/routed-shares')
        reply = await client.maskInput(body, {
          delta: packSecureVector(h.deltas.get(message.to)!, [{ kind: 'loss', range: 100 }], { loss: 2 }, 1),
          numExamples: 10,
        });
      else if (body.type === 'secagg/consistency-request') reply = client.consistency(body);
      else reply = client.unmask(body);
    }
    const parsed = SecAggClientMessageSchema.parse(reply);
    const verdict = h.protocol.receive({
      kind: 'secagg',
      clientId: message.to,
      round: parsed.round,
      body: parsed,
    });
    if (verdict.ok) h.driver.advance();
    // The unmask stage closes once every secret has t shares; a later reveal is not needed.
    if (parsed.type === 'secagg/unmask' && !verdict.ok)
      expect(verdict).toMatchObject({ code: 'stale-round', message: expect.stringMatching(/is not needed$/) });
    else expect(verdict).toEqual({ ok: true });
  }
  await settle();
  return outbound.length;
}

describe('SecAggProtocol', () => {
  it('runs advertise -> share keys -> masked input -> unmask and yields the weighted mean, the slot means and the record', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    expect(h.driver.sent.map((m) => m.event)).toEqual(['train', 'train', 'train', 'train']);
    const train = h.driver.sent[0];
    // Clients train, then advertise: the four later stages keep a phase timeout each.
    expect(train.event === 'train' && train.body.timeoutMs).toBe(TRAIN_MS - 4 * PHASE_MS);
    const stages: string[] = [h.protocol.stage];
    const all = new Set(ids);
    while (!h.protocol.settled()) {
      expect(await exchange(h, all)).toBeGreaterThan(0);
      stages.push(h.protocol.stage);
    }
    expect(stages).toEqual(['advertise-keys', 'share-keys', 'masked-input', 'consistency', 'unmask', 'unmask']);
    expect(h.protocol.failure()).toBeUndefined();
    expect(h.protocol.contributors()).toBe(4);
    const aggregate = h.protocol.aggregate();
    // Equal weights: the mean of (i + 1) (j - 2) / 20 over i = 0..3 is 2.5 (j - 2) / 20 (all within the clip).
    aggregate.delta.forEach((v, j) => expect(v).toBeCloseTo((2.5 * (j - 2)) / 20, 6));
    expect(aggregate).toMatchObject({ contributions: ids.map((clientId) => ({ clientId })), numExamples: 40 });
    // The slot's error bound is the delta's (1.9e-7 here) times range / clip = 100.
    expect(aggregate.trainLoss).toBeCloseTo(2, 4);
    const record = h.protocol.details(h.driver.time).secureAggregation!;
    expect(record).toMatchObject({
      k: 3,
      threshold: 3,
      clip: 1,
      maxWeight: 1000,
      stage: 'unmask',
      survivors: ids,
      dropouts: [],
    });
    expect(Object.keys(record.stageMs).sort()).toEqual([
      'advertise-keys',
      'consistency',
      'masked-input',
      'share-keys',
      'unmask',
    ]);
    expect(h.protocol.deadline).toBeUndefined();
  });

  it('closes a stage at its deadline without a silent client, and the round still succeeds without it', async () => {
    // 6 clients: k = 5, t = 4, so each survivor keeps 4 live neighbours without the silent one.
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    const three = new Set(['a', 'b', 'c', 'e', 'f']);
    await exchange(h, three);
    expect(h.protocol.stage).toBe('advertise-keys');
    h.driver.wait(TRAIN_MS - 4 * PHASE_MS - 1);
    await settle();
    expect(h.protocol.stage).toBe('advertise-keys');
    h.driver.wait(1);
    await settle();
    expect(h.protocol.stage).toBe('share-keys');
    expect(h.driver.sent.map((m) => m.to).sort()).toEqual(['a', 'b', 'c', 'e', 'f']);
    while (!h.protocol.settled()) await exchange(h, three);
    expect(h.protocol.failure()).toBeUndefined();
    expect(h.protocol.details(h.driver.time).secureAggregation).toMatchObject({
      survivors: ['a', 'b', 'c', 'e', 'f'],
      dropouts: [{ clientId: 'd', stage: 'advertise-keys' }],
    });
  });

  it('a disconnect ends the wait for that client at once', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    const all = new Set(ids);
    const rest = new Set(['a', 'b', 'c', 'e', 'f']);
    await exchange(h, all);
    await exchange(h, all);
    await exchange(h, rest);
    expect(h.protocol.stage).toBe('masked-input');
    expect(h.protocol.drop('d')).toBe(true);
    h.driver.advance();
    await settle();
    expect(h.protocol.stage).toBe('consistency');
    while (!h.protocol.settled()) await exchange(h, rest);
    expect(h.protocol.contributors()).toBe(5);
    expect(h.protocol.details(h.driver.time).secureAggregation!.dropouts).toEqual([
      { clientId: 'd', stage: 'masked-input' },
    ]);
  });

  it('a client that leaves after its masked input still counts', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    const all = new Set(ids);
    for (let i = 0; i < 3; i++) await exchange(h, all);
    expect(h.protocol.stage).toBe('consistency');
    expect(h.protocol.drop('a')).toBe(false);
    while (!h.protocol.settled()) await exchange(h, new Set(['b', 'c', 'd', 'e', 'f']));
    expect(h.protocol.contributors()).toBe(6);
    expect(h.protocol.details(h.driver.time).secureAggregation!.survivors).toEqual(ids);
  });

  it('aborts when a survivor keeps fewer than t live neighbours, with the reason as the round failure', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    await exchange(h, new Set(['a', 'b']));
    h.protocol.drop('c');
    h.protocol.drop('d');
    h.driver.advance();
    await settle();
    expect(h.protocol.settled()).toBe(true);
    expect(h.protocol.contributors()).toBe(0);
    expect(h.protocol.failure()).toBe(
      "secure aggregation aborted after advertise: client 'a' has 1 live neighbours, fewer than the threshold 3",
    );
    expect(() => h.protocol.aggregate()).toThrow(/has no result/);
    expect(h.protocol.deadline).toBeUndefined();
  });

  it('fails the round at once when a participant has no registered identity key, or the graph cannot be built', async () => {
    const h = harness(['a', 'b', 'c']);
    expect(h.protocol.begin(['a', 'b', 'c', 'ghost'], 5)).toEqual([]);
    expect(h.protocol.settled()).toBe(true);
    expect(h.protocol.failure()).toBe(
      "secure aggregation needs every participant's identity key; none is registered for ghost",
    );
    // Its deadline is now: the runtime ends the round on its next turn.
    expect(h.protocol.deadline).toBe(5);

    const small = harness(['a', 'b'], { graph: { k: 2, threshold: 2 } });
    expect(small.protocol.begin(['a', 'b'], 0)).toEqual([]);
    expect(small.protocol.failure()).toMatch(
      /^secure aggregation cannot run round 7 with 2 participants: secure aggregation needs at least 3 clients/,
    );
  });

  it('reports the training deadline when the round has not finished by then, and refuses plaintext updates', () => {
    const h = harness(['a', 'b', 'c']);
    h.driver.sent = h.protocol.begin(['a', 'b', 'c'], 0);
    expect(h.protocol.failure()).toBe(
      `secure aggregation did not finish by the ${TRAIN_MS} ms training deadline (stage advertise-keys, waiting for a, b, c)`,
    );
    const verdict = h.protocol.receive({
      kind: 'update',
      clientId: 'a',
      meta: { round: 7, numExamples: 1, metrics: { loss: 0, accuracy: 0 }, trainMs: 0 },
      delta: new Float32Array(M),
    });
    expect(verdict).toMatchObject({ ok: false, code: 'invalid-message' });
    // Training and key advertising end where the four later stages keep a phase timeout each.
    expect(h.protocol.deadline).toBe(TRAIN_MS - 4 * PHASE_MS);
  });

  it('keeps the threshold at or above the floor 2t - k >= 2; a configured threshold below it fails the round', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const setupOf = (h: Harness) => {
      const train = h.protocol.begin(ids, 0)[0];
      if (train.event !== 'train') throw new Error('expected a training task');
      return SecureTrainSectionSchema.parse(train.body.secureAggregation).setup;
    };
    // For 6 clients the dropout-driven threshold is 2: a split view of the survivors with one sybil could then unmask a client.
    expect(setupOf(harness(ids))).toMatchObject({ k: 5, threshold: 4 });
    expect(setupOf(harness(ids, { graph: { k: 2 } }))).toMatchObject({ k: 2, threshold: 2 });
    const weak = harness(ids, { graph: { threshold: 3 } });
    expect(weak.protocol.begin(ids, 0)).toEqual([]);
    expect(weak.protocol.failure()).toMatch(/threshold must be an integer in \[4, k = 5\], got 3/);
  });

  it('refuses an aggregator that needs individual updates', () => {
    expect(() => harness(['a', 'b', 'c'], {}, new CoordinateMedian())).toThrow(/cannot run with secure aggregation/);
  });
});
