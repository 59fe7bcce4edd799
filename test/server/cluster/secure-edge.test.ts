import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClientLink, LinkMessage } from '../../../server/client-link.js';
import { decodeFrame, encodeFrame, type Framed, type MaskedPartial } from '../../../server/cluster/cluster-messages.js';
import { SecureEdge } from '../../../server/cluster/secure-edge.js';
import { decodeForwarded, maskedPartialRefusal, RelayBatcher } from '../../../server/cluster/secure-relay.js';
import type { TrainTask } from '../../../shared/protocol/messages.js';
import { createSetup, generateIdentity } from '../../../shared/secagg/index.js';
import type { SecAggServerMessage } from '../../../shared/secagg/messages.js';

/**
 * A node's side of a secure round, driven by frames the leader's RelayBatcher really encodes: the
 * relayed task and stage messages reach this node's clients only, masked inputs are checked and
 * summed mod 2^32 into one partial, everything else is forwarded to the leader.
 */

const IDS = ['a', 'b', 'c', 'd'];
const VALUES = 3;
const WORDS = VALUES + 1;
const PHASE_MS = 1_000;

class FakeLink implements ClientLink {
  readonly sent: LinkMessage[] = [];
  constructor(readonly id: string) {}
  send(message: LinkMessage): void {
    this.sent.push(message);
  }
  close(): void {}
}

function task(wordBits?: 16): TrainTask {
  const setup = createSetup({
    ...(wordBits ? { wordBits } : {}),
    round: 5,
    participants: IDS.map((id) => ({ id, identityKey: generateIdentity().publicKey })),
    vectorLength: VALUES,
    clip: 1,
    maxWeight: 10,
    graph: { k: 3, threshold: 3 },
  });
  return {
    round: 5,
    version: 4,
    config: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: 10_000,
    secureAggregation: { setup, slots: [] },
  };
}

function routedShares(): SecAggServerMessage {
  return { type: 'secagg/routed-shares', round: 5, shares: [] };
}

function masked(...words: number[]) {
  return { type: 'secagg/masked-input' as const, round: 5, masked: new Uint8Array(Uint32Array.from(words).buffer) };
}

/** A node holding clients a and b, fed by a leader holding token 3; what each side sent. */
function setUp(wordBits?: 16) {
  const links = new Map(['a', 'b'].map((id) => [id, new FakeLink(id)]));
  const toLeader: Framed[] = [];
  const edge = new SecureEdge(
    'n2',
    links,
    PHASE_MS,
    (f) => toLeader.push(decodeFrame(encodeFrame(f))),
    () => {},
  );
  const frames: Framed[] = [];
  const batcher = new RelayBatcher(
    () => 3,
    (f) => frames.push(f),
  );
  /** Relays `messages` as the leader does (one frame per node and turn; c and d are n3's) and hands every frame to the node. */
  const relay = async (messages: Parameters<RelayBatcher['add']>[0][]) => {
    for (const m of messages) batcher.add(m, m.to === 'a' || m.to === 'b' ? 'n2' : 'n3');
    await Promise.resolve();
    const headers = [];
    for (const sent of frames.splice(0)) {
      const frame = decodeFrame(encodeFrame(sent));
      if (frame.message.kind !== 'relay') throw new Error(frame.message.kind);
      edge.relay(frame.message, frame.bytes);
      headers.push(frame.message);
    }
    return headers;
  };
  const weights = Float32Array.from([1, 2, 3]);
  const body = task(wordBits);
  const open = () => relay(IDS.map((to) => ({ event: 'train' as const, to, body, weights })));
  return { links, edge, toLeader, relay, open, body, weights };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SecureEdge', () => {
  it("delivers the relayed task and stage messages to this node's clients only; a shared task crosses once per node", async () => {
    const s = setUp();
    expect(await s.open()).toEqual([
      { kind: 'relay', round: 5, token: 3, node: 'n2', to: ['a', 'b'] },
      { kind: 'relay', round: 5, token: 3, node: 'n3', to: ['c', 'd'] },
    ]);
    for (const id of ['a', 'b']) {
      const [sent] = s.links.get(id)!.sent;
      if (sent.event !== 'train') throw new Error(sent.event);
      expect(sent.body).toEqual(s.body);
      expect([...sent.weights]).toEqual([...s.weights]);
    }
    await s.relay([{ event: 'secagg', to: 'c', body: routedShares() }]);
    expect(s.links.get('a')!.sent).toHaveLength(1);
    await s.relay(['a', 'c'].map((to) => ({ event: 'secagg' as const, to, body: routedShares() })));
    expect(s.links.get('a')!.sent.map((m) => m.event)).toEqual(['train', 'secagg']);
  });

  it('sums its clients masked inputs mod 2^32 and forwards one partial once both answered', async () => {
    const s = setUp();
    await s.open();
    await s.relay(['a', 'b', 'c'].map((to) => ({ event: 'secagg' as const, to, body: routedShares() })));
    expect(s.edge.receive('a', 5, masked(2 ** 32 - 1, 5, 6, 3), 16)).toEqual({ ok: true });
    expect(s.toLeader).toEqual([]);
    expect(s.edge.receive('b', 5, masked(2, 1, 1, 3), 16)).toEqual({ ok: true });
    const [partial] = s.toLeader;
    expect(partial.message).toEqual({
      kind: 'masked-partial',
      round: 5,
      token: 3,
      node: 'n2',
      clientIds: ['a', 'b'],
      updateBytes: 32,
    });
    expect([...new Uint32Array(partial.bytes!.slice().buffer)]).toEqual([1, 6, 7, 6]);
    expect(s.edge.bytesIn).toBe(32);
  });

  it('widens 16-bit masked words as the SecAgg+ server does before adding them, and refuses a short input', async () => {
    const s = setUp(16);
    await s.open();
    await s.relay(['a', 'b'].map((to) => ({ event: 'secagg' as const, to, body: routedShares() })));
    // Three 16-bit value words and the 32-bit weight.
    const packed = (v: number[], weight: number) => {
      const bytes = new Uint8Array(VALUES * 2 + 4);
      const view = new DataView(bytes.buffer);
      v.forEach((x, i) => view.setUint16(2 * i, x, true));
      view.setUint32(VALUES * 2, weight, true);
      return { type: 'secagg/masked-input' as const, round: 5, masked: bytes };
    };
    expect(s.edge.receive('a', 5, { ...packed([1, 2, 3], 4), masked: new Uint8Array(8) }, 8)).toEqual({
      ok: false,
      code: 'invalid-message',
      message: "masked input from 'a' has 8 bytes, expected 10 (3 16-bit words and a 32-bit weight)",
    });
    s.edge.receive('a', 5, packed([0xffff, 2, 3], 4), 10);
    s.edge.receive('b', 5, packed([0xffff, 5, 6], 2 ** 32 - 1), 10);
    expect([...new Uint32Array(s.toLeader[0].bytes!.slice().buffer)]).toEqual([0x1fffe, 7, 9, 3]);
  });

  it('refuses, as the SecAgg+ server would, a second masked input and one of the wrong size; a departure settles it', async () => {
    const s = setUp();
    await s.open();
    await s.relay(['a', 'b'].map((to) => ({ event: 'secagg' as const, to, body: routedShares() })));
    expect(s.edge.receive('a', 5, { ...masked(1, 1, 1), masked: new Uint8Array(12) }, 12)).toEqual({
      ok: false,
      code: 'invalid-message',
      message: `masked input from 'a' has 12 bytes, expected ${WORDS * 4}`,
    });
    expect(s.edge.receive('a', 5, masked(1, 1, 1, 1), 16)).toEqual({ ok: true });
    expect(s.edge.receive('a', 5, masked(1, 1, 1, 1), 16)).toEqual({
      ok: false,
      code: 'invalid-message',
      message: "'a' is not expected in phase 'masked-input' (already answered)",
    });
    // b leaves: the partial goes with a alone.
    s.edge.left('b');
    expect(s.toLeader.map((f) => f.message)).toMatchObject([{ kind: 'masked-partial', clientIds: ['a'] }]);
    expect(s.edge.receive('a', 6, masked(1, 1, 1, 1), 16)).toEqual({
      ok: false,
      code: 'stale-round',
      message: "node n2 relays no secure round 6 (message 'secagg/masked-input')",
    });
  });

  it('forwards other messages, and masked inputs it was not told to expect, to the leader in their envelopes', async () => {
    const s = setUp();
    await s.open();
    const consistency = { type: 'secagg/consistency' as const, round: 5, signature: new Uint8Array(64).fill(7) };
    expect(s.edge.receive('a', 5, consistency, 80)).toEqual({ ok: true });
    expect(s.edge.receive('b', 5, masked(1, 2, 3, 4), 16)).toEqual({ ok: true });
    expect(s.toLeader.map((f) => f.message)).toEqual([
      { kind: 'secagg-forward', round: 5, token: 3, node: 'n2', clientId: 'a' },
      { kind: 'secagg-forward', round: 5, token: 3, node: 'n2', clientId: 'b' },
    ]);
    expect(decodeForwarded(s.toLeader[0].bytes!)).toEqual(consistency);
    expect(decodeForwarded(s.toLeader[1].bytes!)).toEqual(masked(1, 2, 3, 4));
  });

  it('forwards what it has at 80% of the phase timeout when a client never answers, and refuses that client later', async () => {
    vi.useFakeTimers();
    const s = setUp();
    await s.open();
    await s.relay(['a', 'b'].map((to) => ({ event: 'secagg' as const, to, body: routedShares() })));
    s.edge.receive('a', 5, masked(1, 1, 1, 1), 16);
    vi.advanceTimersByTime(PHASE_MS * 0.8 - 1);
    expect(s.toLeader).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(s.toLeader.map((f) => f.message)).toMatchObject([{ kind: 'masked-partial', clientIds: ['a'] }]);
    expect(s.edge.receive('b', 5, masked(1, 1, 1, 1), 16)).toEqual({
      ok: false,
      code: 'stale-round',
      message: "round 5's masked inputs on node n2 were already forwarded",
    });
  });

  it("tells the round's participants it failed when a new leader's task comes, before that task", async () => {
    const s = setUp();
    await s.open();
    const frames: Framed[] = [];
    const next = new RelayBatcher(
      () => 4,
      (f) => frames.push(f),
    );
    next.add({ event: 'train', to: 'a', body: { ...s.body }, weights: s.weights }, 'n2');
    await Promise.resolve();
    const frame = decodeFrame(encodeFrame(frames[0]));
    if (frame.message.kind !== 'relay') throw new Error(frame.message.kind);
    s.edge.relay(frame.message, frame.bytes);
    expect(s.links.get('a')!.sent.map((m) => m.event)).toEqual(['train', 'round-closed', 'train']);
    expect(s.links.get('b')!.sent.map((m) => m.event)).toEqual(['train', 'round-closed']);
    expect(s.links.get('b')!.sent[1]).toEqual({
      event: 'round-closed',
      to: 'b',
      body: {
        round: 5,
        outcome: 'failed',
        version: 4,
        reason: "the cluster's leader changed (fencing token 3 -> 4): the round runs again",
      },
    });
    // The new round's masked inputs go under the new token.
    expect(s.edge.receive('a', 5, { type: 'secagg/refusal', round: 5, reason: 'x' }, 10)).toEqual({ ok: true });
    expect(s.toLeader.at(-1)!.message).toMatchObject({ kind: 'secagg-forward', token: 4 });
  });

  it('tells its participants a round of an older leader failed when the new leader closes a round, and ends its own round quietly', async () => {
    const s = setUp();
    await s.open();
    s.edge.closed(5, 3);
    expect(s.links.get('a')!.sent.map((m) => m.event)).toEqual(['train']);
    await s.open();
    s.edge.closed(5, 4);
    expect(s.links.get('a')!.sent.map((m) => m.event)).toEqual(['train', 'train', 'round-closed']);
    expect(s.links.get('a')!.sent[2]).toMatchObject({
      body: {
        round: 5,
        outcome: 'failed',
        reason: "the cluster's leader changed (fencing token 3 -> 4): the round will not close",
      },
    });
  });

  it('ignores a relay whose payload is not a valid envelope of relayed messages', () => {
    const lines: string[] = [];
    const links = new Map([['a', new FakeLink('a')]]);
    const edge = new SecureEdge(
      'n2',
      links,
      PHASE_MS,
      () => {},
      (l) => lines.push(l),
    );
    edge.relay({ kind: 'relay', round: 5, token: 3, node: 'n2', to: ['a'] }, new Uint8Array(8));
    expect(links.get('a')!.sent).toEqual([]);
    expect(lines[0]).toMatch(/^ignored the leader's relay for round 5: /);
  });
});

describe('maskedPartialRefusal', () => {
  const nodeOf = (id: string) => ({ a: 'n2', b: 'n2', c: 'n3' })[id];
  const partial = (clientIds: string[]): MaskedPartial => ({
    kind: 'masked-partial',
    round: 5,
    token: 3,
    node: 'n2',
    clientIds,
    updateBytes: 0,
  });

  it("takes a sum of the node's own clients in whole words", () => {
    expect(maskedPartialRefusal(partial(['a', 'b']), new Uint8Array(16), nodeOf)).toBeUndefined();
  });

  it("refuses a sum naming another node's client, or an unknown one, or not whole 32-bit words", () => {
    expect(maskedPartialRefusal(partial(['a', 'c']), new Uint8Array(16), nodeOf)).toBe(
      'node n2 sent a masked input sum naming c, a client of node n3',
    );
    expect(maskedPartialRefusal(partial(['x']), new Uint8Array(16), nodeOf)).toBe(
      'node n2 sent a masked input sum naming x, which no node reports',
    );
    expect(maskedPartialRefusal(partial(['a']), new Uint8Array(6), nodeOf)).toBe(
      'node n2 sent a masked input sum of 6 bytes, not whole 32-bit words',
    );
    expect(maskedPartialRefusal(partial(['a']), undefined, nodeOf)).toBe(
      'node n2 sent a masked input sum of 0 bytes, not whole 32-bit words',
    );
  });
});
