import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoordinateMedian } from '../../../shared/aggregation/median.js';
import { TrimmedMean } from '../../../shared/aggregation/trimmed-mean.js';
import type { Aggregator } from '../../../shared/aggregation/types.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { UpdateMeta } from '../../../shared/protocol/messages.js';
import type { ClientLink, LinkMessage } from '../../../server/client-link.js';
import type { Forwarded, Partial as PartialMessage, RoundOpen } from '../../../server/cluster/cluster-messages.js';
import { EdgeAggregator } from '../../../server/cluster/edge-aggregator.js';
import { EdgeProtocol, type EdgeCluster, type ReceivedPartial } from '../../../server/cluster/edge-protocol.js';
import type { RoundContext } from '../../../server/round/aggregation-protocol.js';

const M = 4;
const weights = new Float32Array(M);

function open(participants: string[], flushAt = Date.now() + 60_000, forwarded: Forwarded = 'mean'): RoundOpen {
  return {
    kind: 'round-open',
    round: 3,
    token: 7,
    leader: 'lead',
    participants,
    task: {
      round: 3,
      version: 2,
      config: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
      timeoutMs: 1000,
    },
    codec: { codec: 'float32' },
    normLimits: { max: 1_000, maxToMedian: 100 },
    flushAt,
    forwarded,
  };
}

const meta = (numExamples: number, round = 3): UpdateMeta => ({
  round,
  numExamples,
  metrics: { loss: 1, accuracy: 0.5 },
  trainMs: 10,
});

function node(id: string, clients: string[]) {
  const sent: LinkMessage[] = [];
  const links = new Map<string, ClientLink>(
    clients.map((c) => [c, { id: c, send: (m: LinkMessage) => sent.push(m), close: () => undefined }]),
  );
  const partials: { partial: PartialMessage; mean: Float32Array | undefined }[] = [];
  const edge = new EdgeAggregator(id, links, (partial, vector) => partials.push({ partial, mean: vector }));
  return { edge, sent, partials };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('EdgeAggregator', () => {
  it('sends the task to its own participants only, and forwards one weighted mean once they all reported', () => {
    const { edge, sent, partials } = node('n1', ['a', 'b', 'z']);
    edge.open(open(['a', 'b', 'x']), weights);
    expect(sent.map((m) => [m.event, m.to])).toEqual([
      ['train', 'a'],
      ['train', 'b'],
    ]);
    expect(edge.receive('a', meta(1), Float32Array.from([4, 0, 0, 0]), 16)).toEqual({ ok: true });
    expect(partials).toHaveLength(0);
    expect(edge.receive('b', meta(3), Float32Array.from([0, 4, 0, 0]), 16)).toEqual({ ok: true });
    expect(partials).toHaveLength(1);
    const [{ partial, mean }] = partials;
    expect(partial).toEqual({
      kind: 'partial',
      round: 3,
      token: 7,
      node: 'n1',
      forwarded: 'mean',
      contributors: 2,
      weight: 4,
      loss: 1,
      accuracy: 0.5,
      refused: 0,
      updateBytes: 32,
    });
    expect(Array.from(mean!)).toEqual([1, 3, 0, 0]);
    expect(edge.bytesIn).toBe(32);
  });

  it('refuses what a single coordinator refuses: other rounds, non-participants, duplicates, wrong sizes', () => {
    const { edge } = node('n1', ['a', 'b', 'z']);
    expect(edge.receive('a', meta(1), new Float32Array(M), 16)).toMatchObject({ ok: false, code: 'stale-round' });
    edge.open(open(['a', 'b']), weights);
    expect(edge.receive('a', meta(1, 2), new Float32Array(M), 16)).toMatchObject({ ok: false, code: 'stale-round' });
    expect(edge.receive('z', meta(1), new Float32Array(M), 16)).toMatchObject({ ok: false, code: 'not-selected' });
    expect(edge.receive('a', meta(1), new Float32Array(M + 1), 20)).toMatchObject({ ok: false, code: 'wrong-length' });
    expect(edge.receive('a', meta(1), new Float32Array(M), 16)).toEqual({ ok: true });
    expect(edge.receive('a', meta(1), new Float32Array(M), 16)).toMatchObject({ ok: false, code: 'duplicate-update' });
    expect(edge.bytesIn).toBe(16);
  });

  it('forwards example-weighted training metrics, and no client id', () => {
    const { edge, partials } = node('n1', ['a', 'b']);
    edge.open(open(['a', 'b']), weights);
    edge.receive('a', { ...meta(1), metrics: { loss: 4, accuracy: 1 } }, new Float32Array(M), 16);
    edge.receive('b', { ...meta(3), metrics: { loss: 0, accuracy: 0.2 } }, new Float32Array(M), 16);
    expect(partials[0].partial).toMatchObject({ contributors: 2, weight: 4, loss: 1, accuracy: 0.4 });
    expect(JSON.stringify(partials[0].partial)).not.toMatch(/"a"|"b"/);
  });

  it('forwards without participants that left or sent unusable updates, counting the refusals', () => {
    const { edge, partials } = node('n1', ['a', 'b', 'c']);
    edge.open(open(['a', 'b', 'c']), weights);
    edge.receive('a', meta(2), Float32Array.from([1, 1, 1, 1]), 16);
    edge.refuse('b', 3, 'non-finite: weights[0] is NaN');
    expect(partials).toHaveLength(0);
    edge.left('c');
    expect(partials).toHaveLength(1);
    expect(partials[0].partial).toMatchObject({ contributors: 1, weight: 2, refused: 1 });
  });

  it('forwards what it has at the flush time, and refuses later updates as stale', () => {
    vi.useFakeTimers();
    const { edge, partials } = node('n1', ['a', 'b']);
    edge.open(open(['a', 'b'], Date.now() + 500), weights);
    edge.receive('a', meta(2), Float32Array.from([1, 1, 1, 1]), 16);
    vi.advanceTimersByTime(500);
    expect(partials).toHaveLength(1);
    expect(partials[0].partial.weight).toBe(2);
    expect(edge.receive('b', meta(2), new Float32Array(M), 16)).toMatchObject({
      ok: false,
      code: 'stale-round',
      message: expect.stringMatching(/already forwarded/),
    });
  });

  it('forwards an empty partial at once when none of the participants is on this node', () => {
    const { edge, partials } = node('n1', ['z']);
    edge.open(open(['a']), weights);
    expect(partials).toEqual([
      { partial: expect.objectContaining({ weight: 0, contributors: 0, refused: 0 }), mean: undefined },
    ]);
    expect(partials[0].partial).not.toHaveProperty('loss');
  });
});

describe('EdgeProtocol', () => {
  function cluster(where: Record<string, string>) {
    const opened: string[][] = [];
    const refusals: string[] = [];
    const queue: ReceivedPartial[] = [];
    const waiters: ((p: ReceivedPartial) => void)[] = [];
    const c: EdgeCluster = {
      nodeOf: (id) => where[id],
      openRound: (_ctx, participants) => void opened.push([...participants]),
      nextPartial: () => {
        const next = queue.shift();
        return next ? Promise.resolve(next) : new Promise((resolve) => waiters.push(resolve));
      },
      partialRefused: (node, round, reason) => void refusals.push(`${node} r${round}: ${reason}`),
    };
    const deliver = (p: ReceivedPartial) => {
      const w = waiters.shift();
      if (w) w(p);
      else queue.push(p);
    };
    return { c, opened, refusals, deliver };
  }
  const ctx: RoundContext = {
    round: 3,
    version: 2,
    globalWeights: weights,
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: 1000,
    aggregator: new WeightedMean(),
  };
  const MAX_NORM = 1_000;
  const protocolOn = (c: EdgeCluster) => new EdgeProtocol(ctx, c, MAX_NORM);
  const partial = (
    nodeId: string,
    contributors: number,
    weight: number,
    mean?: number[],
    more: Partial<ReceivedPartial['partial']> = {},
  ): ReceivedPartial => ({
    partial: {
      kind: 'partial',
      round: 3,
      token: 7,
      node: nodeId,
      forwarded: 'mean',
      contributors,
      weight,
      ...(contributors > 0 ? { loss: 1, accuracy: 0.5 } : {}),
      refused: 0,
      updateBytes: 16 * contributors,
      ...more,
    },
    vector: mean ? Float32Array.from(mean) : undefined,
  });

  /** Carries out the protocol's await effects, as the round machine does, until it waits for a partial not yet sent. */
  function runner(protocol: EdgeProtocol) {
    let pending: Promise<(now: number) => ReturnType<EdgeProtocol['advance']>> | undefined;
    const take = (effects: ReturnType<EdgeProtocol['advance']>) => {
      for (const e of effects) if (e.type === 'await') pending = e.work;
    };
    take(protocol.advance());
    return async () => {
      while (pending) {
        const work = pending;
        const next = await Promise.race([work, new Promise<undefined>((r) => setTimeout(r, 20))]);
        if (!next) return;
        pending = undefined;
        take(next(Date.now()));
      }
    };
  }

  it('opens the round on the nodes, waits for every node with participants, and combines the partials as FedAvg of all updates', async () => {
    const { c, opened, deliver } = cluster({ a: 'n1', b: 'n1', x: 'n2' });
    const protocol = protocolOn(c);
    expect(protocol.begin(['a', 'b', 'x'], 100)).toEqual([]);
    expect(protocol.deadline).toBe(100);
    expect(opened).toEqual([['a', 'b', 'x']]);
    const pump = runner(protocol);
    deliver(partial('n1', 2, 4, [1, 3, 0, 0], { loss: 2, accuracy: 0.25 }));
    await pump();
    expect(protocol.settled()).toBe(false);
    expect(protocol.contributors()).toBe(2);
    deliver(partial('n2', 1, 4, [0, 0, 2, 0], { loss: 1, accuracy: 0.75, refused: 0 }));
    await pump();
    expect(protocol.settled()).toBe(true);
    const aggregate = protocol.aggregate();
    // FedAvg of a=(4,0,0,0)x1, b=(0,4,0,0)x3, x=(0,0,2,0)x4: (4, 12, 8, 0) / 8.
    expect(Array.from(aggregate.delta)).toEqual([0.5, 1.5, 1, 0]);
    expect(aggregate.numExamples).toBe(8);
    // Per node, not per client: the leader never saw a client's own figures.
    expect(aggregate.contributions).toEqual([]);
    expect(aggregate.nodes).toEqual([
      {
        node: 'n1',
        forwarded: 'mean',
        contributors: 2,
        numExamples: 4,
        loss: 2,
        accuracy: 0.25,
        refused: 0,
        updateBytes: 32,
      },
      {
        node: 'n2',
        forwarded: 'mean',
        contributors: 1,
        numExamples: 4,
        loss: 1,
        accuracy: 0.75,
        refused: 0,
        updateBytes: 16,
      },
    ]);
    expect(aggregate.trainLoss).toBe(1.5);
    expect(aggregate.trainAccuracy).toBe(0.5);
  });

  it('stops waiting for a node whose participants all dropped, and refuses client messages', () => {
    const { c } = cluster({ a: 'n1', x: 'n2' });
    const protocol = protocolOn(c);
    protocol.begin(['a', 'x'], 0);
    expect(protocol.drop('x')).toBe(true);
    expect(protocol.drop('x')).toBe(false);
    expect(protocol.settled()).toBe(false);
    expect(protocol.drop('a')).toBe(true);
    expect(protocol.settled()).toBe(true);
    expect(protocol.receive({ kind: 'update', clientId: 'a', meta: meta(1), delta: weights })).toMatchObject({
      ok: false,
      code: 'invalid-message',
    });
  });

  it('ignores a second partial from one node and refuses a partial whose mean has the wrong size', async () => {
    const { c, deliver, refusals } = cluster({ a: 'n1', x: 'n2' });
    const protocol = protocolOn(c);
    protocol.begin(['a', 'x'], 0);
    deliver(partial('n1', 1, 1, [1, 1, 1, 1]));
    deliver(partial('n1', 1, 1, [9, 9, 9, 9]));
    deliver(partial('n2', 1, 1, [1, 1]));
    await runner(protocol)();
    expect(protocol.settled()).toBe(true);
    expect(protocol.contributors()).toBe(1);
    expect(Array.from(protocol.aggregate().delta)).toEqual([1, 1, 1, 1]);
    expect(refusals).toEqual(['n2 r3: its mean has 2 values, the model has 4']);
  });

  describe('a lying follower cannot weigh more than its clients could', () => {
    /** Node n1 has the participants a and b; n2 has x. n2's honest partial: 1 client, 2 examples, mean (1,1,1,1). */
    async function roundWith(lie: ReceivedPartial) {
      const { c, deliver, refusals } = cluster({ a: 'n1', b: 'n1', x: 'n2' });
      const protocol = protocolOn(c);
      protocol.begin(['a', 'b', 'x'], 0);
      deliver(lie);
      deliver(partial('n2', 1, 2, [1, 1, 1, 1]));
      await runner(protocol)();
      expect(protocol.settled()).toBe(true);
      return { protocol, refusals };
    }

    it.each([
      [
        'more contributors than it had participants',
        partial('n1', 3, 3, [0, 0, 0, 0]),
        /3 contributor\(s\).*2 participant/,
      ],
      [
        'more contributors and refusals than participants',
        partial('n1', 2, 2, [0, 0, 0, 0], { refused: 1 }),
        /2 contributor\(s\) and 1 refused/,
      ],
      ['more examples than its clients may claim', partial('n1', 2, 2e9 + 1, [0, 0, 0, 0]), /weight 2000000001/],
      ['fewer examples than contributors', partial('n1', 2, 1, [0, 0, 0, 0]), /weight 1 is not between/],
      ['a weight without contributors', partial('n1', 0, 5, [5, 5, 5, 5]), /no contributors but a weight or updates/],
      ['contributors without a mean', partial('n1', 2, 2), /no mean/],
      ['contributors without metrics', partial('n1', 2, 2, [0, 0, 0, 0], { loss: undefined }), /no training metrics/],
      [
        'a mean longer than any update may be',
        partial('n1', 2, 2, [800, 800, 0, 0]),
        /L2 norm 1131, above the limit 1000/,
      ],
      ['a non-finite mean', partial('n1', 2, 2, [Number.NaN, 0, 0, 0]), /L2 norm Infinity/],
    ])('refuses %s, and the round goes on with the honest nodes', async (_what, lie, reason) => {
      const { protocol, refusals } = await roundWith(lie);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatch(reason);
      expect(protocol.contributors()).toBe(1);
      const aggregate = protocol.aggregate();
      expect(Array.from(aggregate.delta)).toEqual([1, 1, 1, 1]);
      expect(aggregate.numExamples).toBe(2);
      expect(aggregate.nodes!.map((n) => n.node)).toEqual(['n2']);
    });

    it('takes the most an honest node could send: every participant at the example cap, a mean at the norm limit', async () => {
      const { protocol, refusals } = await roundWith(partial('n1', 2, 2e9, [1_000, 0, 0, 0]));
      expect(refusals).toEqual([]);
      expect(protocol.contributors()).toBe(3);
    });
  });

  describe('with an aggregator that is not linear, every update reaches the leader', () => {
    const robustCtx = (aggregator: Aggregator): RoundContext => ({ ...ctx, aggregator });
    /** Node n1's clients a, b, c and node n2's x, y, with their updates and example counts. */
    const sent: Record<string, [number, number[]]> = {
      a: [1, [1, 0, 0, 0]],
      b: [3, [5, 2, 0, -1]],
      c: [2, [-3, 1, 1, 0]],
      x: [4, [2, 9, -1, 0]],
      y: [1, [0, 3, 7, 2]],
    };
    const where = { a: 'n1', b: 'n1', c: 'n1', x: 'n2', y: 'n2' };

    it('a node forwards its validated updates end to end with their weights, in one partial and without client ids', () => {
      const { edge, partials } = node('n1', ['a', 'b', 'c']);
      edge.open(open(['a', 'b', 'c'], Date.now() + 60_000, 'updates'), weights);
      for (const id of ['c', 'a', 'b']) edge.receive(id, meta(sent[id][0]), Float32Array.from(sent[id][1]), 16);
      expect(partials).toHaveLength(1);
      const [{ partial, mean: vector }] = partials;
      expect(partial).toMatchObject({ forwarded: 'updates', contributors: 3, weight: 6, weights: [1, 3, 2] });
      expect(Array.from(vector!)).toEqual([...sent.a[1], ...sent.b[1], ...sent.c[1]]);
      expect(JSON.stringify(partial)).not.toMatch(/"a"|"b"|"c"/);
    });

    it.each([
      ['median', new CoordinateMedian()],
      ['trimmed-mean', new TrimmedMean(0.2)],
    ])(
      "the leader runs %s over every node's updates: the same as over all of them in one coordinator",
      async (_name, aggregator) => {
        const { c, deliver, opened } = cluster(where);
        const protocol = new EdgeProtocol(robustCtx(aggregator), c, MAX_NORM);
        protocol.begin(Object.keys(where), 0);
        expect(opened).toHaveLength(1);
        for (const [id, clients] of [
          ['n2', ['x', 'y']],
          ['n1', ['a', 'b', 'c']],
        ] as const) {
          const { edge, partials } = node(id, [...clients]);
          edge.open(open(Object.keys(where), Date.now() + 60_000, 'updates'), weights);
          for (const client of clients)
            edge.receive(client, meta(sent[client][0]), Float32Array.from(sent[client][1]), 16);
          deliver({ partial: partials[0].partial, vector: partials[0].mean });
        }
        await runner(protocol)();
        expect(protocol.settled()).toBe(true);
        expect(protocol.contributors()).toBe(5);
        const aggregate = protocol.aggregate();
        const all = Object.entries(sent).map(([clientId, [numExamples, delta]]) => ({
          clientId,
          numExamples,
          delta: Float32Array.from(delta),
        }));
        expect(Array.from(aggregate.delta)).toEqual(Array.from(aggregator.aggregate(all)));
        // The test can tell: FedAvg of the same updates differs.
        expect(Array.from(aggregate.delta)).not.toEqual(Array.from(new WeightedMean().aggregate(all)));
        expect(aggregate.numExamples).toBe(11);
        expect(aggregate.nodes!.map((n) => [n.node, n.forwarded, n.contributors])).toEqual([
          ['n1', 'updates', 3],
          ['n2', 'updates', 2],
        ]);
      },
    );

    /** n1 (participants a, b) lies; n2's honest partial: x's update (1,1,1,1) of 2 examples. */
    async function robustRoundWith(lie: ReceivedPartial) {
      const { c, deliver, refusals } = cluster({ a: 'n1', b: 'n1', x: 'n2' });
      const protocol = new EdgeProtocol(robustCtx(new CoordinateMedian()), c, MAX_NORM);
      protocol.begin(['a', 'b', 'x'], 0);
      deliver(lie);
      deliver(partial('n2', 1, 2, [1, 1, 1, 1], { forwarded: 'updates', weights: [2] }));
      await runner(protocol)();
      expect(protocol.settled()).toBe(true);
      return { protocol, refusals };
    }
    const updates = (n: number, weights: number[], values: number[] = new Array<number>(n * M).fill(0)) =>
      partial(
        'n1',
        n,
        weights.reduce((s, w) => s + w, 0),
        values,
        { forwarded: 'updates', weights },
      );

    it.each([
      ['more updates than it had participants', updates(3, [1, 1, 1]), /3 contributor\(s\).*2 participant/],
      [
        'fewer weights than updates',
        { ...updates(2, [1, 1]), partial: { ...updates(2, [1, 1]).partial, weights: [2] } },
        /2 contributor\(s\) but 1 update weight/,
      ],
      ['an update of no examples', updates(2, [0, 2]), /update 0 weighs 0 examples/],
      ['an update of more examples than a client may claim', updates(2, [1, 1e9 + 1]), /update 1 weighs 1000000001/],
      [
        'weights that do not add up to its weight',
        { ...updates(2, [1, 1]), partial: { ...updates(2, [1, 1]).partial, weight: 3 } },
        /add up to 2, not its weight 3/,
      ],
      ['updates of the wrong size', updates(2, [1, 1], [0, 0, 0, 0, 0]), /5 values, 2 update\(s\).*have 8/],
      ['one update past the norm limit', updates(2, [1, 1], [0, 0, 0, 0, 0, 1001, 0, 0]), /update 1 has L2 norm 1001/],
      [
        'a mean where every update is needed',
        partial('n1', 2, 2, [0, 0, 0, 0]),
        /forwards a mean, .*needs every update/,
      ],
      ['no updates', partial('n1', 2, 2, undefined, { forwarded: 'updates', weights: [1, 1] }), /no updates/],
    ])('refuses a partial with %s, and the round goes on with the honest nodes', async (_what, lie, reason) => {
      const { protocol, refusals } = await robustRoundWith(lie);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatch(reason);
      expect(protocol.contributors()).toBe(1);
      expect(Array.from(protocol.aggregate().delta)).toEqual([1, 1, 1, 1]);
    });

    it('takes the most an honest node could send: every update at the example cap and the norm limit', async () => {
      const { protocol, refusals } = await robustRoundWith(updates(2, [1e9, 1e9], [1_000, 0, 0, 0, 0, -1_000, 0, 0]));
      expect(refusals).toEqual([]);
      expect(protocol.contributors()).toBe(3);
    });

    it('refuses every update where a mean is needed', async () => {
      const { c, deliver, refusals } = cluster({ a: 'n1' });
      const protocol = protocolOn(c);
      protocol.begin(['a'], 0);
      deliver(partial('n1', 1, 1, [0, 0, 0, 0], { forwarded: 'updates', weights: [1] }));
      await runner(protocol)();
      expect(refusals).toEqual(["n1 r3: it forwards every update, the round's aggregator needs a mean"]);
    });
  });
});
