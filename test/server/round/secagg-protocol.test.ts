import { split } from 'shamir-secret-sharing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoordinateMedian } from '../../../shared/aggregation/median.js';
import type { Aggregator } from '../../../shared/aggregation/types.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { Outbound, ProtocolEffect, RoundContext } from '../../../server/round/aggregation-protocol.js';
import {
  SecAggProtocol,
  type SecAggProtocolOptions,
  type SecAggRoundAudit,
} from '../../../server/round/secagg-protocol.js';
import type { SecretShares } from '../../../shared/secagg/client.js';
import { SecureTrainSectionSchema, type SecureSlot } from '../../../shared/protocol/secagg-messages.js';
import { packSecureVector, type SlotValues } from '../../../shared/protocol/secagg-vector.js';
import { trainTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  generateIdentity,
  SecAggClient,
  SecAggClientMessageSchema,
  SecAggMessageError,
  SecAggServer,
  SecAggServerMessageSchema,
  type SecAggClientOptions,
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
      else if (effect.type === 'await') void effect.work.then((next) => this.run(next(this.time)));
      else throw new Error(`unknown effect ${JSON.stringify(effect)}`);
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
  slots: SecureSlot[];
  /** What each client puts in the slots. */
  slotValues: SlotValues;
  makeClient: (options: SecAggClientOptions) => SecAggClient;
}

function harness(
  ids: string[],
  options: Partial<SecAggProtocolOptions> = {},
  aggregator: Aggregator = new WeightedMean(),
  extra: Partial<RoundContext> & {
    slotValues?: SlotValues;
    makeClient?: (options: SecAggClientOptions) => SecAggClient;
  } = {},
): Harness {
  const { slotValues = { loss: 2 }, makeClient = (o) => new SecAggClient(o), ...ctxExtra } = extra;
  const identities = new Map(ids.map((id) => [id, generateIdentity()]));
  const ctx: RoundContext = {
    round: 7,
    version: 3,
    globalWeights: new Float32Array(M),
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: TRAIN_MS,
    aggregator,
    ...ctxExtra,
  };
  const slots = options.slots ?? [{ kind: 'loss', range: 100 }];
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
  return {
    driver: new Driver(protocol),
    protocol,
    identities,
    clients: new Map(),
    deltas,
    slots,
    slotValues,
    makeClient,
  };
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
      const client = h.makeClient({
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
          delta: packSecureVector(h.deltas.get(message.to)!, h.slots, h.slotValues, 1),
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
    expect(h.protocol.begin(['a', 'b', 'c', 'ghost', 'spook'], 5)).toEqual([]);
    expect(h.protocol.settled()).toBe(true);
    expect(h.protocol.failure()).toBe(
      "secure aggregation needs every participant's identity key; none is registered for ghost, spook",
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

/** Runs every stage with every client answering, the clock at `times[i]` before exchange i. */
async function runAll(h: Harness, ids: string[], times: number[] = []): Promise<void> {
  const all = new Set(ids);
  for (let i = 0; !h.protocol.settled(); i++) {
    if (times[i] !== undefined) h.driver.time = times[i];
    await exchange(h, all);
  }
}

describe('SecAggProtocol reports', () => {
  it('logs the setup, each stage and the unmasked sum; audits the setup, every message and the outcome', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const lines: string[] = [];
    const audited: string[] = [];
    const audit: SecAggRoundAudit = {
      received: (sender, message) => audited.push(`${sender} ${(message as { type: string }).type}`),
      setup: (section) => audited.push(`setup k=${section.setup.k} slots=${section.slots.map((s) => s.kind).join()}`),
      finished: (outcome) => audited.push(`finished ${outcome.kind}`),
    };
    const h = harness(ids, { log: (line) => lines.push(line), audit });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    const { errorBound } = h.protocol.details(h.driver.time).secureAggregation!;
    expect(lines).toEqual([
      'round 7: secure aggregation with 4 clients: k = 3, threshold 3, clip 1, weight cap 1000, 32-bit words',
      'round 7: secure aggregation: stage share-keys with 4 client(s)',
      'round 7: secure aggregation: stage masked-input with 4 client(s)',
      'round 7: secure aggregation: stage consistency with 4 client(s)',
      'round 7: secure aggregation: stage unmask with 4 client(s)',
      `round 7: secure aggregation: unmasked the sum of 4 client(s) (error bound ${errorBound!.toExponential(2)} per coordinate)`,
    ]);
    expect(audited[0]).toBe('setup k=3 slots=loss');
    expect(audited.slice(1, 5)).toEqual(ids.map((id) => `${id} secagg/advertise-keys`));
    expect(audited.filter((line) => line.endsWith('secagg/masked-input'))).toHaveLength(4);
    expect(audited.at(-1)).toBe('finished done');
  });

  it('times each stage on the runtime clock and keeps the unmask stage clear of the training deadline', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    // Short phases: advertising ends at 10 s - 4 x 200 ms, and the later stages run close to the training deadline.
    const h = harness(ids, { phaseTimeoutMs: 200 });
    expect(h.protocol.details(0)).toEqual({});
    expect(h.protocol.contributors()).toBe(0);
    expect(() => h.protocol.aggregate()).toThrow(
      new Error(
        `secure aggregation of round 7 has no result: secure aggregation did not finish by the ${TRAIN_MS} ms training deadline (stage advertise-keys)`,
      ),
    );
    expect(h.protocol.failure()).toBe(
      `secure aggregation did not finish by the ${TRAIN_MS} ms training deadline (stage advertise-keys)`,
    );
    h.driver.sent = h.protocol.begin(ids, 0);
    expect(h.protocol.deadline).toBe(9200);
    // The stage under way counts up to `now`, never below 0.
    expect(h.protocol.details(30).secureAggregation).toMatchObject({
      stage: 'advertise-keys',
      stageMs: { 'advertise-keys': 30 },
      survivors: [],
      dropouts: [],
    });
    expect(h.protocol.details(-5).secureAggregation!.stageMs).toEqual({ 'advertise-keys': 0 });
    const deadlines: (number | undefined)[] = [];
    const all = new Set(ids);
    for (const time of [8500, 8650, 8840, 8900]) {
      h.driver.time = time;
      await exchange(h, all);
      deadlines.push(h.protocol.deadline);
    }
    // Each stage gets a phase timeout, consistency's past 9 s; unmask's is cut to leave
    // UNMASK_COMPUTE_MS (1 s) before the 10 s training deadline.
    expect(deadlines).toEqual([8700, 8850, 9040, 9000]);
    h.driver.time = 8950;
    await exchange(h, all);
    expect(h.protocol.failure()).toBeUndefined();
    // Done: the last stage's time is fixed, whatever `now` is asked later.
    expect(h.protocol.details(99_999).secureAggregation!.stageMs).toEqual({
      'advertise-keys': 8500,
      'share-keys': 150,
      'masked-input': 190,
      consistency: 60,
      unmask: 50,
    });
  });

  it('16-bit words for quantized updates when the client count allows them, 32 otherwise', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const lines: string[] = [];
    const small = harness(ids, { smallWords: true, log: (line) => lines.push(line) });
    const [task] = small.protocol.begin(ids, 0);
    expect(task.event === 'train' && SecureTrainSectionSchema.parse(task.body.secureAggregation).setup.wordBits).toBe(
      16,
    );
    expect(small.protocol.details(0).secureAggregation).toMatchObject({ wordBits: 16 });
    expect(lines[0]).toMatch(/, 16-bit words$/);
    for (const smallWords of [false, undefined]) {
      const wide = harness(ids, smallWords === undefined ? {} : { smallWords });
      const [t] = wide.protocol.begin(ids, 0);
      expect(t.event === 'train' && SecureTrainSectionSchema.parse(t.body.secureAggregation).setup).not.toHaveProperty(
        'wordBits',
      );
      expect(wide.protocol.details(0).secureAggregation).not.toHaveProperty('wordBits');
    }
    // 16-bit words hold at least 15 levels per client only up to 2047 clients: beyond, 32-bit words.
    const many = Array.from({ length: 2048 }, (_, i) => `c${i}`);
    const key = generateIdentity().publicKey;
    const crowd = new SecAggProtocol(
      {
        round: 7,
        version: 3,
        globalWeights: new Float32Array(M),
        trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
        timeoutMs: TRAIN_MS,
        aggregator: new WeightedMean(),
      },
      {
        graph: {},
        clip: 1,
        maxWeight: 1000,
        phaseTimeoutMs: PHASE_MS,
        slots: [{ kind: 'loss', range: 100 }],
        identityOf: () => key,
        smallWords: true,
      },
    );
    // One key for all: only the setup's word size is looked at.
    const [first] = crowd.begin(many, 0);
    expect(
      first.event === 'train' && SecureTrainSectionSchema.parse(first.body.secureAggregation).setup,
    ).not.toHaveProperty('wordBits');
  });

  it('names itself, and gives training the time up to the advertise deadline from when the round began', () => {
    const h = harness(['a', 'b', 'c']);
    expect(h.protocol.name).toBe('secagg+');
    const [task] = h.protocol.begin(['a', 'b', 'c'], 100);
    expect(task.event === 'train' && task.body.timeoutMs).toBe(TRAIN_MS - 4 * PHASE_MS);
    expect(h.protocol.deadline).toBe(100 + TRAIN_MS - 4 * PHASE_MS);
    // The stage under way is timed from when it began.
    expect(h.protocol.details(130).secureAggregation!.stageMs).toEqual({ 'advertise-keys': 30 });
    expect(h.protocol.details(50).secureAggregation!.stageMs).toEqual({ 'advertise-keys': 0 });
  });

  it('gives training at least 1 ms when the later stages take all the time', () => {
    const h = harness(['a', 'b', 'c'], { phaseTimeoutMs: TRAIN_MS });
    const [task] = h.protocol.begin(['a', 'b', 'c'], 50);
    expect(task.event === 'train' && task.body.timeoutMs).toBe(1);
    expect(h.protocol.deadline).toBe(50 + TRAIN_MS - 4 * TRAIN_MS);
  });

  it('lists dropouts in stage order, then by id, with their reason', async () => {
    // 9 clients: k = 8, t = 5, so the survivors keep t live neighbours after three leave.
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    // 'f' refuses at once and 'e' never advertises; 'b' leaves after sharing keys.
    expect(
      h.protocol.receive({
        kind: 'secagg',
        clientId: 'f',
        round: 7,
        body: { type: 'secagg/refusal', round: 7, reason: 'no thanks' },
      }),
    ).toEqual({ ok: true });
    const rest = new Set(['a', 'b', 'c', 'd', 'g', 'h', 'i']);
    await exchange(h, rest);
    h.driver.wait(TRAIN_MS - 4 * PHASE_MS);
    await settle();
    await exchange(h, rest);
    expect(h.protocol.drop('b')).toBe(true);
    rest.delete('b');
    h.driver.advance();
    await settle();
    while (!h.protocol.settled()) await exchange(h, rest);
    expect(h.protocol.failure()).toBeUndefined();
    const record = h.protocol.details(h.driver.time).secureAggregation!;
    expect(record.dropouts).toEqual([
      { clientId: 'e', stage: 'advertise-keys' },
      { clientId: 'f', stage: 'advertise-keys', reason: 'no thanks' },
      { clientId: 'b', stage: 'masked-input' },
    ]);
    expect(record.survivors).toEqual(['a', 'c', 'd', 'g', 'h', 'i']);
    // The sum is unmasked: a client that never sent its masked input no longer holds anything up.
    expect(h.protocol.drop('e')).toBe(false);
  });

  it('orders two dropouts of a later stage by id, whatever order they came in', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    const rest = new Set(ids);
    await exchange(h, rest);
    await exchange(h, rest);
    // At the masked input, 'h' refuses first (recorded as it arrives), then 'b' leaves (recorded at the close).
    expect(
      h.protocol.receive({
        kind: 'secagg',
        clientId: 'h',
        round: 7,
        body: { type: 'secagg/refusal', round: 7, reason: 'battery low' },
      }),
    ).toEqual({ ok: true });
    rest.delete('h');
    expect(h.protocol.drop('b')).toBe(true);
    rest.delete('b');
    h.driver.advance();
    await settle();
    while (!h.protocol.settled()) await exchange(h, rest);
    expect(h.protocol.failure()).toBeUndefined();
    expect(h.protocol.details(h.driver.time).secureAggregation!.dropouts).toEqual([
      { clientId: 'b', stage: 'masked-input' },
      { clientId: 'h', stage: 'masked-input', reason: 'battery low' },
    ]);
  });
});

describe('SecAggProtocol stage messages', () => {
  it('go to every client the stage needs that is still connected', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    // 'f' answers first (the stage would close as soon as only gone clients are left).
    h.driver.sent = h.protocol.begin(ids, 0).reverse();
    // 'f' disconnects, but its advertisement (already on its way) still arrives: the coordinator gives it peers, yet nothing is sent to it.
    expect(h.protocol.drop('f')).toBe(true);
    await exchange(h, new Set(ids));
    expect(h.protocol.stage).toBe('share-keys');
    expect(h.driver.sent.map((m) => [m.event, m.to]).sort()).toEqual(
      ['a', 'b', 'c', 'd', 'e'].map((id) => ['secagg', id]),
    );
    // The survivor list is known from the unmask request on.
    expect(h.protocol.details(h.driver.time).secureAggregation!.survivors).toEqual([]);
    const rest = new Set(['a', 'b', 'c', 'd', 'e']);
    for (let i = 0; i < 3; i++) await exchange(h, rest);
    expect(h.protocol.stage).toBe('unmask');
    expect(h.protocol.settled()).toBe(false);
    expect(h.protocol.details(h.driver.time).secureAggregation!.survivors).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('SecAggProtocol at unmask', () => {
  for (const leaves of [false, true]) {
    it(`a silent client at unmask is ${leaves ? 'a dropout when it left' : 'no dropout while connected: its shares were not needed'}`, async () => {
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
      const h = harness(ids);
      h.driver.sent = h.protocol.begin(ids, 0);
      const all = new Set(ids);
      for (let i = 0; i < 4; i++) await exchange(h, all);
      expect(h.protocol.stage).toBe('unmask');
      if (leaves) expect(h.protocol.drop('f')).toBe(false);
      while (!h.protocol.settled()) await exchange(h, new Set(['a', 'b', 'c', 'd', 'e']));
      expect(h.protocol.failure()).toBeUndefined();
      expect(h.protocol.details(h.driver.time).secureAggregation!.dropouts).toEqual(
        leaves ? [{ clientId: 'f', stage: 'unmask' }] : [],
      );
    });
  }

  it('a client that refuses at unmask is a dropout with its reason, though still connected', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    const all = new Set(ids);
    for (let i = 0; i < 4; i++) await exchange(h, all);
    expect(h.protocol.stage).toBe('unmask');
    expect(
      h.protocol.receive({
        kind: 'secagg',
        clientId: 'f',
        round: 7,
        body: { type: 'secagg/refusal', round: 7, reason: 'shutting down' },
      }),
    ).toEqual({ ok: true });
    while (!h.protocol.settled()) await exchange(h, new Set(['a', 'b', 'c', 'd', 'e']));
    expect(h.protocol.failure()).toBeUndefined();
    expect(h.protocol.details(h.driver.time).secureAggregation!.dropouts).toEqual([
      { clientId: 'f', stage: 'unmask', reason: 'shutting down' },
    ]);
  });
});

describe('SecAggProtocol under differential privacy and equal weights', () => {
  const instructions = {
    mode: 'distributed',
    clipNorm: 1,
    noiseMultiplier: 1,
    updateNoiseStd: 0.1,
    indicatorNoiseStd: 1,
  } as const;
  const privacyOf = (unmasked: (n: number) => void) => ({
    plan: { round: 7, samplingRate: 1, expectedContributors: 4, instructions },
    unmasked,
  });

  it('sends the DP instructions, reports the unmasked count, and yields the plain sum and the indicator sum', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const told: number[] = [];
    const h = harness(ids, { maxWeight: 1, slots: [{ kind: 'clip-indicator', range: 1 }] }, new WeightedMean(), {
      privacy: privacyOf((n) => void told.push(n)),
      slotValues: { 'clip-indicator': 0.5 },
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    const [task] = h.driver.sent;
    expect(task.event === 'train' && task.body.privacy).toEqual(instructions);
    await runAll(h, ids);
    expect(told).toEqual([4]);
    const aggregate = h.protocol.aggregate();
    // The sum of (i + 1) (j - 2) / 20 over i = 0..3 is 10 (j - 2) / 20.
    aggregate.delta.forEach((v, j) => expect(v).toBeCloseTo((10 * (j - 2)) / 20, 5));
    expect(aggregate.numExamples).toBe(0);
    expect(aggregate.indicatorSum).toBeCloseTo(2, 5);
    expect(aggregate).not.toHaveProperty('trainLoss');
  });

  it('has no indicator sum without its slot', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids, { maxWeight: 1 }, new WeightedMean(), { privacy: privacyOf(() => undefined) });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    expect(h.protocol.aggregate()).not.toHaveProperty('indicatorSum');
  });

  it('aborts when the unmasked sum cannot be charged', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const lines: string[] = [];
    const h = harness(ids, { maxWeight: 1, log: (line) => lines.push(line) }, new WeightedMean(), {
      privacy: privacyOf(() => {
        throw new Error('the journal is full');
      }),
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    const reason = 'secure aggregation aborted after unmasking: the journal is full';
    expect(h.protocol.failure()).toBe(reason);
    expect(h.protocol.contributors()).toBe(0);
    expect(lines.at(-1)).toBe(`round 7: ${reason}`);
    expect(h.protocol.details(h.driver.time).secureAggregation).not.toHaveProperty('errorBound');
  });

  it('with equal weights and no DP, sums the example counts in their slot and keeps the accuracy within [0, 1]', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const slots: SecureSlot[] = [
      { kind: 'examples', range: 1000 },
      { kind: 'accuracy', range: 2 },
      { kind: 'loss', range: 100 },
    ];
    const h = harness(ids, { maxWeight: 1, slots }, new WeightedMean(), {
      slotValues: { examples: 10, accuracy: 1.5, loss: 3 },
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    const aggregate = h.protocol.aggregate();
    expect(aggregate.numExamples).toBe(40);
    expect(aggregate.trainAccuracy).toBe(1);
    expect(aggregate.trainLoss).toBeCloseTo(3, 3);
    aggregate.delta.forEach((v, j) => expect(v).toBeCloseTo((2.5 * (j - 2)) / 20, 5));

    const negative = harness(ids, { maxWeight: 1, slots }, new WeightedMean(), {
      slotValues: { examples: -10, accuracy: -1, loss: 3 },
    });
    negative.driver.sent = negative.protocol.begin(ids, 0);
    await runAll(negative, ids);
    expect(negative.protocol.aggregate()).toMatchObject({ numExamples: 0, trainAccuracy: 0 });
  });

  it('with weights, takes the example count from the weights, not from an examples slot', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids, { slots: [{ kind: 'examples', range: 1000 }] }, new WeightedMean(), {
      slotValues: { examples: 3 },
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    // Each client weighs its 10 examples (the cap is 1000).
    expect(h.protocol.aggregate().numExamples).toBe(40);
  });

  it('without slots, reports no training loss or accuracy', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids, { slots: [] }, new WeightedMean(), { slotValues: {} });
    h.driver.sent = h.protocol.begin(ids, 0);
    await runAll(h, ids);
    const aggregate = h.protocol.aggregate();
    expect(aggregate).not.toHaveProperty('trainLoss');
    expect(aggregate).not.toHaveProperty('trainAccuracy');
    expect(aggregate.numExamples).toBe(40);
  });
});

describe('SecAggProtocol refuses', () => {
  it('messages before it began, while a stage closes, after the sum and after an abort', async () => {
    // 6 clients: k = 5, t = 4, so the round goes on without 'f'.
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const h = harness(ids);
    const refusal = (clientId: string) => ({
      kind: 'secagg' as const,
      clientId,
      round: 7,
      body: { type: 'secagg/refusal' as const, round: 7, reason: 'late' },
    });
    expect(h.protocol.receive(refusal('a'))).toEqual({
      ok: false,
      code: 'stale-round',
      message: "secure aggregation of round 7 aborted; 'secagg/refusal' is not needed",
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    await exchange(h, new Set(ids));
    const five = new Set(['a', 'b', 'c', 'd', 'e']);
    await exchange(h, five);
    // 'f' still owes its shares: nothing to close yet.
    expect(h.protocol.advance(0)).toEqual([]);
    expect(h.protocol.receive(refusal('f'))).toEqual({ ok: true });
    expect(h.protocol.receive(refusal('f'))).toMatchObject({ ok: false, code: 'invalid-message' });
    h.driver.advance();
    expect(h.protocol.receive(refusal('a'))).toEqual({
      ok: false,
      code: 'stale-round',
      message: "stage share-keys of round 7 has closed; 'secagg/refusal' is not needed",
    });
    await settle();
    while (!h.protocol.settled()) await exchange(h, five);
    expect(h.protocol.receive(refusal('a'))).toEqual({
      ok: false,
      code: 'stale-round',
      message: "secure aggregation of round 7 already unmasked the sum; 'secagg/refusal' is not needed",
    });
    expect(h.protocol.advance(99_999)).toEqual([]);
    // A client leaving after the sum is unmasked owes nothing.
    expect(h.protocol.drop('a')).toBe(false);

    const aborted = harness(ids);
    aborted.protocol.begin([...ids, 'ghost'], 0);
    expect(aborted.protocol.receive(refusal('a'))).toMatchObject({
      ok: false,
      code: 'stale-round',
      message: "secure aggregation of round 7 aborted; 'secagg/refusal' is not needed",
    });
    expect(aborted.protocol.advance(99_999)).toEqual([]);
  });

  it('a plaintext update, with the reason', () => {
    const h = harness(['a', 'b', 'c']);
    h.protocol.begin(['a', 'b', 'c'], 0);
    expect(
      h.protocol.receive({
        kind: 'update',
        clientId: 'a',
        meta: { round: 7, numExamples: 1, metrics: { loss: 0, accuracy: 0 }, trainMs: 0 },
        delta: new Float32Array(M),
      }),
    ).toEqual({
      ok: false,
      code: 'invalid-message',
      message:
        "round 7 uses secure aggregation: updates go out masked, as 'secagg' messages; a plaintext update is refused",
    });
  });

  it('a drop of a stranger or a client already gone changes nothing', () => {
    const h = harness(['a', 'b', 'c']);
    h.protocol.begin(['a', 'b', 'c'], 0);
    expect(h.protocol.drop('x')).toBe(false);
    expect(h.protocol.drop('a')).toBe(true);
    expect(h.protocol.drop('a')).toBe(false);
  });
});

describe('SecAggProtocol in trouble', () => {
  afterEach(() => vi.restoreAllMocks());

  it('logs and records an abort that names a culprit, and audits how it ended', async () => {
    const dealer = 'b';
    class BadKeyDealer extends SecAggClient {
      protected override async splitSecrets(count: number): Promise<SecretShares> {
        const honest = await super.splitSecrets(count);
        return { ...honest, maskingKey: await split(new Uint8Array(32).fill(9), count, 4) };
      }
    }
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const lines: string[] = [];
    const outcomes: string[] = [];
    const audit: SecAggRoundAudit = {
      received: () => undefined,
      setup: () => undefined,
      finished: (outcome) => outcomes.push(outcome.kind === 'aborted' ? outcome.reason : 'done'),
    };
    const h = harness(ids, { log: (line) => lines.push(line), audit }, new WeightedMean(), {
      makeClient: (o) => (o.id === dealer ? new BadKeyDealer(o) : new SecAggClient(o)),
    });
    h.driver.sent = h.protocol.begin(ids, 0);
    const all = new Set(ids);
    await exchange(h, all);
    await exchange(h, all);
    // The dealer drops before masking: its neighbours reveal their shares of its masking key.
    const rest = new Set(ids.filter((id) => id !== dealer));
    h.protocol.drop(dealer);
    while (!h.protocol.settled()) await exchange(h, rest);
    const reason = `during unmask: the masking key rebuilt for '${dealer}' does not match what it committed to, from shares it committed to itself: '${dealer}' dealt bad shares`;
    expect(h.protocol.failure()).toBe(`secure aggregation aborted ${reason}`);
    expect(outcomes).toEqual([reason]);
    expect(lines.at(-1)).toBe(`round 7: secure aggregation aborted ${reason}`);
    expect(h.protocol.details(h.driver.time).secureAggregation).toMatchObject({ culprit: dealer, stage: 'unmask' });
  });

  it('an abort without a culprit records none', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    await exchange(h, new Set(['a', 'b']));
    h.driver.wait(TRAIN_MS);
    await settle();
    expect(h.protocol.failure()).toMatch(/^secure aggregation aborted after advertise/);
    expect(h.protocol.details(h.driver.time).secureAggregation).not.toHaveProperty('culprit');
  });

  it('logs why it could not start, a client that refused, and an unexpected error, which it refuses like a bad message', async () => {
    const lines: string[] = [];
    const h = harness(['a', 'b', 'c'], { log: (line) => lines.push(line) });
    h.protocol.begin(['a', 'b', 'ghost'], 0);
    expect(lines).toEqual([
      "round 7: secure aggregation needs every participant's identity key; none is registered for ghost",
    ]);
    const small = harness(['a', 'b'], { graph: { k: 2, threshold: 2 }, log: (line) => lines.push(line) });
    small.protocol.begin(['a', 'b'], 0);
    expect(lines[1]).toMatch(/^round 7: secure aggregation cannot run round 7 with 2 participants: /);

    const ids = ['a', 'b', 'c', 'd'];
    lines.length = 0;
    const live = harness(ids, { log: (line) => lines.push(line) });
    live.protocol.begin(ids, 0);
    lines.length = 0;
    const refusal = { type: 'secagg/refusal' as const, round: 7, reason: 'my digest differs' };
    expect(live.protocol.receive({ kind: 'secagg', clientId: 'a', round: 7, body: refusal })).toEqual({ ok: true });
    expect(lines).toEqual(['round 7: a refused to go on with secure aggregation: my digest differs']);
    // A message the state machine refuses is no surprise: not logged.
    expect(live.protocol.receive({ kind: 'secagg', clientId: 'a', round: 7, body: refusal })).toMatchObject({
      ok: false,
      code: 'invalid-message',
      message: expect.stringMatching(/'a' is not expected in phase 'advertise-keys'/),
    });
    expect(lines).toHaveLength(1);
    const spy = vi.spyOn(SecAggServer.prototype, 'receive');
    spy.mockImplementationOnce(() => {
      throw new TypeError('boom');
    });
    expect(live.protocol.receive({ kind: 'secagg', clientId: 'b', round: 7, body: refusal })).toEqual({
      ok: false,
      code: 'invalid-message',
      message: 'boom',
    });
    expect(lines[1]).toMatch(/^round 7: unexpected error on 'secagg\/refusal' from b: TypeError: boom\n\s+at /);
    spy.mockImplementationOnce(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless dependency might throw
      throw 'a string';
    });
    expect(live.protocol.receive({ kind: 'secagg', clientId: 'b', round: 7, body: refusal })).toEqual({
      ok: false,
      code: 'invalid-message',
      message: 'a string',
    });
    expect(lines[2]).toBe("round 7: unexpected error on 'secagg/refusal' from b: a string");
    const stackless = new Error('no stack');
    stackless.stack = undefined;
    spy.mockImplementationOnce(() => {
      throw stackless;
    });
    live.protocol.receive({ kind: 'secagg', clientId: 'b', round: 7, body: refusal });
    expect(lines[3]).toBe("round 7: unexpected error on 'secagg/refusal' from b: no stack");
    spy.mockImplementationOnce(() => {
      throw new SecAggMessageError('expected');
    });
    live.protocol.receive({ kind: 'secagg', clientId: 'b', round: 7, body: refusal });
    expect(lines).toHaveLength(4);
  });

  it('aborts when the coordinator cannot close a stage', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const h = harness(ids);
    h.driver.sent = h.protocol.begin(ids, 0);
    vi.spyOn(SecAggServer.prototype, 'close').mockRejectedValueOnce(new Error('out of memory'));
    await exchange(h, new Set(ids));
    expect(h.protocol.failure()).toBe(
      'secure aggregation aborted the coordinator could not close stage advertise-keys: out of memory',
    );
    expect(h.protocol.details(h.driver.time).secureAggregation!.dropouts).toEqual([]);
  });

  it('lets a test tamper with the task, the setup and the stage messages of one client', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const seen: string[] = [];
    const other = new Float32Array(M).fill(1);
    const h = harness(ids, {
      tamper: {
        task: (to, task) => (to === 'a' ? { ...task, weights: other } : task),
        setup: (to, setup) => (to === 'b' ? { ...setup, round: 8 } : setup),
        message: (to, message) => {
          seen.push(`${to} ${message.type}`);
          return message;
        },
      },
    });
    const sent = h.protocol.begin(ids, 0);
    const sections = sent.map((m) =>
      m.event === 'train' ? SecureTrainSectionSchema.parse(m.body.secureAggregation).setup.round : undefined,
    );
    expect(sections).toEqual([7, 8, 7, 7, 7, 7]);
    expect(sent.map((m) => (m.event === 'train' ? m.weights[0] : undefined))).toEqual([1, 0, 0, 0, 0, 0]);
    // 'b', told of another round, stays silent; the others advertise, and each gets its peers' keys through the tamper.
    h.driver.sent = sent;
    await exchange(h, new Set(['a', 'c', 'd', 'e', 'f']));
    h.driver.wait(TRAIN_MS - 4 * PHASE_MS);
    await settle();
    expect(seen).toEqual(['a', 'c', 'd', 'e', 'f'].map((id) => `${id} secagg/peer-keys`));

    // Without a setup tamper every client gets the one task object.
    const plain = harness(ids);
    const tasks = plain.protocol.begin(ids, 0);
    expect(new Set(tasks.map((m) => m.body)).size).toBe(1);
  });
});
