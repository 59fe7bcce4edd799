import { split } from 'shamir-secret-sharing';
import { describe, expect, it } from 'vitest';
import { SecAggClient, type SecAggClientOptions, type SecretShares } from '../../../shared/secagg/client.js';
import { SecAggMessageError } from '../../../shared/secagg/errors.js';
import { signAdvertisement, signSurvivors } from '../../../shared/secagg/identity.js';
import { aggregateErrorBound, fixedPointScale } from '../../../shared/secagg/encoding.js';
import { roundContext } from '../../../shared/secagg/round.js';
import { SecAggServer, type ServerStep } from '../../../shared/secagg/server.js';
import {
  answer,
  runTo,
  transported,
  type ClientMessage,
  stepRound,
  UPDATE,
  type ConsistencyRequest,
  type PeerKeys,
  type RoutedShares,
  type UnmaskRequest,
} from './stepper.js';
import { clientIds } from './driver.js';

/** A client whose shares of `secret` rebuild another value than it committed to, in shares it signed for. */
function badDealer(secret: keyof SecretShares, threshold: number) {
  return class extends SecAggClient {
    protected override async splitSecrets(count: number): Promise<SecretShares> {
      const honest = await super.splitSecrets(count);
      return { ...honest, [secret]: await split(new Uint8Array(32).fill(9), count, threshold) };
    }
  };
}

describe('SecAggServer rejects, changing nothing', () => {
  it('a message of another round, from a stranger, in the wrong phase, or keys whose signature fails', async () => {
    const r = await stepRound();
    const [a, b] = r.ids;
    const advert = r.adverts.get(a)!;
    if (advert.type !== 'secagg/advertise-keys') throw new Error(advert.type);
    expect(() => r.server.receive(a, { ...advert, round: 2 })).toThrow(
      new SecAggMessageError('message for round 2, this is round 1'),
    );
    expect(() => r.server.receive('client-999', advert)).toThrow(
      new SecAggMessageError(
        `'client-999' is not expected in phase 'advertise-keys' (not selected, dropped, or already answered)`,
      ),
    );
    expect(() => r.server.receive(a, { type: 'secagg/consistency', round: 1, signature: new Uint8Array(64) })).toThrow(
      new SecAggMessageError(`'secagg/consistency' arrived in phase 'advertise-keys'`),
    );
    const signature = Uint8Array.from(advert.signature);
    signature[0] ^= 1;
    const maskingKey = Uint8Array.from(advert.maskingKey);
    maskingKey[0] ^= 1;
    const badKeys = new SecAggMessageError(`keys from '${a}' fail its identity signature`);
    expect(() => r.server.receive(a, { ...advert, signature })).toThrow(badKeys);
    expect(() => r.server.receive(a, { ...advert, maskingKey })).toThrow(badKeys);
    // b's keys are signed by b, not by a.
    expect(() => r.server.receive(a, r.adverts.get(b)!)).toThrow(badKeys);
    expect(r.server.pending()).toEqual(r.ids);
    expect(r.server.complete()).toBe(false);
    r.server.receive(a, advert);
    expect(() => r.server.receive(a, advert)).toThrow(/is not expected in phase 'advertise-keys'/);
  });

  it('a masked input of the wrong size', async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a] = r.ids;
    const reply = await r.clients.get(a)!.maskInput(routed.get(a)!, UPDATE);
    if (reply.type !== 'secagg/masked-input') throw new Error(reply.type);
    // Two coordinates and the weight, one 32-bit word each.
    expect(reply.masked.length).toBe(12);
    for (const masked of [reply.masked.subarray(4), new Uint8Array(16)])
      expect(() => r.server.receive(a, { ...reply, masked })).toThrow(
        new SecAggMessageError(`masked input from '${a}' has ${masked.length} bytes, expected 12`),
      );
    expect(() =>
      r.server.receive(a, { type: 'secagg/unmask', round: 1, selfMaskShares: [], maskingKeyShares: [] }),
    ).toThrow(new SecAggMessageError(`'secagg/unmask' arrived in phase 'masked-input'`));
    expect(r.server.pending()).toContain(a);
    r.server.receive(a, reply);
    expect(r.server.pending()).not.toContain(a);
  });

  it('a masked input of the wrong size in 16-bit words', async () => {
    const r = await stepRound({ wordBits: 16 });
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a] = r.ids;
    const reply = transported(r, await r.clients.get(a)!.maskInput(routed.get(a)!, UPDATE));
    if (reply.type !== 'secagg/masked-input') throw new Error(reply.type);
    expect(reply.masked.length).toBe(8);
    expect(() => r.server.receive(a, { ...reply, masked: reply.masked.subarray(2) })).toThrow(
      new SecAggMessageError(`masked input from '${a}' has 6 bytes, expected 8 (2 16-bit words and a 32-bit weight)`),
    );
    expect(r.server.pending()).toContain(a);
  });

  it('a message of an unknown type', async () => {
    const r = await stepRound();
    const [a] = r.ids;
    const bogus = { type: 'secagg/bogus', round: 1 } as unknown as ClientMessage;
    expect(() => r.server.receive(a, bogus)).toThrow(
      new SecAggMessageError('unknown message {"type":"secagg/bogus","round":1}'),
    );
    expect(r.server.pending()).toContain(a);
  });

  it('keys the given verify refuses, though their signature is good', async () => {
    const r = await stepRound();
    const server = new SecAggServer({ setup: r.setup, verify: () => false });
    const [a] = r.ids;
    expect(() => server.receive(a, r.adverts.get(a)!)).toThrow(
      new SecAggMessageError(`keys from '${a}' fail its identity signature`),
    );
  });

  it('hands every message to the audit first, refused ones too', async () => {
    const r = await stepRound();
    const seen: [string, unknown][] = [];
    const server = new SecAggServer({ setup: r.setup, audit: { received: (id, m) => seen.push([id, m]) } });
    const [a, b] = r.ids;
    server.receive(a, r.adverts.get(a)!);
    expect(() => server.receive(a, r.adverts.get(b)!)).toThrow(SecAggMessageError);
    expect(seen).toEqual([
      [a, r.adverts.get(a)],
      [a, r.adverts.get(b)],
    ]);
  });

  it('share boxes for a stranger, twice for one neighbour, of the wrong size, or not for every neighbour', async () => {
    const r = await stepRound();
    const peerKeys = await runTo<PeerKeys>(r, 'share-keys');
    const [a] = r.ids;
    const reply = await r.clients.get(a)!.shareKeys(peerKeys.get(a)!);
    const [first, ...rest] = reply.shares;
    const reject = (shares: typeof reply.shares, error: string) =>
      expect(() => r.server.receive(a, { ...reply, shares })).toThrow(new SecAggMessageError(error));
    reject(
      [{ ...first, to: 'client-999' }, ...rest],
      `'${a}' sent shares for 'client-999', who is not one of its advertised neighbours or appears twice`,
    );
    reject(
      [first, first, ...rest.slice(1)],
      `'${a}' sent shares for '${first.to}', who is not one of its advertised neighbours or appears twice`,
    );
    reject(
      [{ ...first, sealed: first.sealed.subarray(1) }, ...rest],
      `'${a}' sent a ${first.sealed.length - 1}-byte share box, expected ${first.sealed.length}`,
    );
    reject(rest, `'${a}' sent shares for 3 of its 4 neighbours`);
    expect(r.server.pending()).toContain(a);
    r.server.receive(a, reply);
    expect(r.server.pending()).not.toContain(a);
  });

  it('a consistency signature on another list', async () => {
    const r = await stepRound();
    const requests = await runTo<ConsistencyRequest>(r, 'consistency');
    const [a, b] = r.ids;
    const fromB = r.clients.get(b)!.consistency(requests.get(b)!);
    expect(() => r.server.receive(a, fromB)).toThrow(
      new SecAggMessageError(`the consistency signature of '${a}' is not on the survivor list it was sent`),
    );
    r.server.receive(b, fromB);
  });

  it('reveals with a share or proof of the wrong size, of a stranger, or not exactly for its neighbours', async () => {
    const r = await stepRound();
    const requests = await runTo<UnmaskRequest>(r, 'unmask');
    const [a] = r.ids;
    const reply = r.clients.get(a)!.unmask(requests.get(a)!);
    const [first, ...rest] = reply.selfMaskShares;
    const reject = (selfMaskShares: typeof reply.selfMaskShares, error: string | RegExp) =>
      expect(() => r.server.receive(a, { ...reply, selfMaskShares })).toThrow(error);
    reject(
      [{ ...first, share: first.share.subarray(1) }, ...rest],
      `'${a}' sent a ${first.share.length - 1}-byte share of '${first.of}', expected ${first.share.length}`,
    );
    reject(
      [{ ...first, proof: first.proof.subarray(1) }, ...rest],
      `'${a}' sent a ${first.proof.length - 1}-byte proof with the share of '${first.of}', expected ${first.proof.length}`,
    );
    reject(
      [{ ...first, of: 'client-999' }, ...rest],
      `'${a}' revealed a share of 'client-999', who is not a participant`,
    );
    const exactly = `'${a}' must reveal self-mask shares for exactly [${roundContext(r.setup).graph.get(a)!.join(', ')}]`;
    reject(rest, exactly);
    reject([first, first, ...rest.slice(1)], exactly);
    reject([first, ...rest, first], exactly);
    // A share of a non-neighbour, with the size of one.
    const stranger = r.ids.find((id) => id !== a && !roundContext(r.setup).graph.get(a)!.includes(id))!;
    reject([{ ...first, of: stranger }, ...rest], exactly);
    expect(() => r.server.receive(a, { ...reply, maskingKeyShares: [first] })).toThrow(
      `'${a}' must reveal masking-key shares for exactly []`,
    );
    r.server.receive(a, reply);
  });
});

describe('SecAggServer ends the round', () => {
  it('after advertise when a client has fewer than t live neighbours, naming it', async () => {
    const r = await stepRound();
    const [a, b] = r.ids;
    for (const id of [a, b]) r.server.receive(id, r.adverts.get(id)!);
    const out = await r.server.close();
    expect(out).toMatchObject({ kind: 'aborted' });
    if (out.kind !== 'aborted') return;
    expect(out.reason).toMatch(
      /^after advertise: client 'client-00[01]' has [01] live neighbours, fewer than the threshold 3$/,
    );
    expect(out.dropouts).toEqual(r.ids.slice(2).map((id) => ({ id, phase: 'advertise-keys' })));
    expect(r.server.pending()).toEqual([]);
  });

  it('records who did not answer as dropped in that phase, and waits only for those still live', async () => {
    const r = await stepRound();
    const [a, ...rest] = r.ids;
    for (const id of rest) r.server.receive(id, r.adverts.get(id)!);
    expect(r.server.complete()).toBe(false);
    const next = await r.server.close();
    if (next.kind !== 'send') throw new Error(JSON.stringify(next));
    expect(next.phase).toBe('share-keys');
    expect(r.server.phase).toBe('share-keys');
    expect([...next.messages.keys()].sort()).toEqual(rest);
    expect(r.server.pending().sort()).toEqual(rest);
    for (const [id, m] of next.messages as Map<string, PeerKeys>) {
      expect(m).toMatchObject({ type: 'secagg/peer-keys', round: 1 });
      const neighbours = roundContext(r.setup)
        .graph.get(id)!
        .filter((v) => v !== a);
      expect(m.peers.map((p) => p.id)).toEqual(neighbours);
    }
    const out = await r.server.close();
    expect(out).toMatchObject({
      kind: 'aborted',
      reason: 'after share keys: no client shared keys',
      dropouts: [{ id: a, phase: 'advertise-keys' }, ...rest.map((id) => ({ id, phase: 'share-keys' }))],
    });
  });

  it('to a sum in 16-bit words, and then refuses to close again', async () => {
    const r = await stepRound({ wordBits: 16 });
    await answer(r, await runTo<UnmaskRequest>(r, 'unmask'), (c, m) => c.unmask(m));
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect(done.result.totalWeight).toBe(3 * r.ids.length);
    for (const [i, v] of UPDATE.delta.entries()) expect(done.result.mean[i]).toBeCloseTo(v, 3);
    await expect(r.server.close()).rejects.toThrow('round 1 is already done');
  });

  it('sends the survivor list sorted, whatever order the masked inputs came in', async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    await answer(r, new Map([...routed].reverse()), (c, m) => c.maskInput(m, UPDATE));
    const requests = await r.step<ConsistencyRequest>();
    for (const m of requests.values()) expect(m.survivors).toEqual(r.ids);
    await answer(r, new Map([...requests].reverse()), (c, m) => c.consistency(m));
    const unmask = await r.step<UnmaskRequest>();
    for (const m of unmask.values()) expect(m.survivors).toEqual(r.ids);
    await answer(r, new Map([...unmask].reverse()), (c, m) => c.unmask(m));
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect(done.result.survivors).toEqual(r.ids);
  });

  it('during unmask when the sum carries a weight or a coordinate no honest clients could send, naming nobody', async () => {
    const word = (index: number, add: number) => async () => {
      const r = await stepRound();
      const routed = await runTo<RoutedShares>(r, 'masked-input');
      const [a] = r.ids;
      await answer(r, routed, async (c, m) => {
        const reply = await c.maskInput(m, UPDATE);
        if (c !== r.clients.get(a) || reply.type !== 'secagg/masked-input') return reply;
        const masked = Uint8Array.from(reply.masked);
        const view = new DataView(masked.buffer);
        view.setUint32(4 * index, (view.getUint32(4 * index, true) + add) >>> 0, true);
        return { ...reply, masked };
      });
      await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
      await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
      return r.server.close();
    };
    const reason = async (step: ServerStep) => {
      if (step.kind !== 'aborted') throw new Error(JSON.stringify(step));
      expect(step).not.toHaveProperty('culprit');
      return step.reason;
    };
    // Six survivors of weight 3; the weight is the third word.
    expect(await reason(await word(2, 1000)())).toBe(
      'during unmask: the total weight 1018 is outside [6, 60] for 6 survivors: some client sent a malformed weight word',
    );
    expect(await reason(await word(2, -13)())).toBe(
      'during unmask: the total weight 5 is outside [6, 60] for 6 survivors: some client sent a malformed weight word',
    );
    expect(await reason(await word(0, 2 ** 30)())).toMatch(
      /^during unmask: coordinate 0 of the mean is \S+, outside the clip range \+-1 \(\+\S+\): some client sent words outside the encoding$/,
    );
    // Weights 6 and 60 are in range: 6 scales the mean by 3, so coordinate 1 (-0.5) leaves the clip range.
    expect(await reason(await word(2, -12)())).toMatch(/^during unmask: coordinate 1 of the mean is -1\.5\d*, outside/);
    const heaviest = await word(2, 42)();
    if (heaviest.kind !== 'done') throw new Error(JSON.stringify(heaviest));
    expect(heaviest.result.totalWeight).toBe(60);
  });

  it('rebuilds a secret from t shares: a forged share beyond the first t changes nothing', async () => {
    const r = await stepRound();
    const requests = await runTo<UnmaskRequest>(r, 'unmask');
    const [a] = r.ids;
    // a's fourth neighbour is the last of its holders; the coordinator combines the first t = 3.
    const fourth = roundContext(r.setup).graph.get(a)![3];
    await answer(r, requests, (c, m) => {
      const reply = c.unmask(m);
      if (c !== r.clients.get(fourth)) return reply;
      const selfMaskShares = reply.selfMaskShares.map((s) => {
        if (s.of !== a) return s;
        const share = Uint8Array.from(s.share);
        share[0] ^= 1;
        return { ...s, share };
      });
      return { ...reply, selfMaskShares };
    });
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    for (const [i, v] of UPDATE.delta.entries()) expect(done.result.mean[i]).toBeCloseTo(v, 5);
  });

  it('unmask is complete once every secret has t revealers, before everyone answered', async () => {
    const r = await stepRound();
    const requests = await runTo<UnmaskRequest>(r, 'unmask');
    const [a] = r.ids;
    await answer(r, requests, (c, m) => c.unmask(m), [a]);
    // Every survivor has 4 neighbours, 3 = t of them revealed.
    expect(r.server.pending()).toEqual([a]);
    expect(r.server.complete()).toBe(true);
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect(done.result.survivors).toEqual(r.ids);
    expect(done.result.dropouts).toEqual([{ id: a, phase: 'unmask' }]);
  });

  it('when nobody advertised, and then takes no message and no close', async () => {
    const r = await stepRound();
    expect(await r.server.close()).toMatchObject({
      kind: 'aborted',
      reason: 'after advertise: no client advertised keys',
    });
    expect(r.server.phase).toBe('aborted');
    expect(r.server.pending()).toEqual([]);
    const [a] = r.ids;
    expect(() => r.server.receive(a, r.adverts.get(a)!)).toThrow(new SecAggMessageError('round 1 is aborted'));
    await expect(r.server.close()).rejects.toThrow('round 1 is already aborted');
  });

  it('when nobody shared keys or sent a masked input', async () => {
    const r = await stepRound();
    await runTo(r, 'share-keys');
    expect(await r.server.close()).toMatchObject({
      kind: 'aborted',
      reason: 'after share keys: no client shared keys',
    });
    const s = await stepRound();
    await runTo(s, 'masked-input');
    expect(await s.server.close()).toMatchObject({
      kind: 'aborted',
      reason: 'after masked input: no client sent a masked input',
    });
  });

  it('records a refusal as a dropout with its reason, in the phase it came', async () => {
    const r = await stepRound();
    const [a, ...rest] = r.ids;
    r.server.receive(a, { type: 'secagg/refusal', round: 1, reason: 'not today' });
    expect(r.server.pending()).toEqual(rest);
    expect(() => r.server.receive(a, r.adverts.get(a)!)).toThrow(/is not expected in phase 'advertise-keys'/);
    for (const id of rest) r.server.receive(id, r.adverts.get(id)!);
    expect(r.server.complete()).toBe(true);
    const next = await r.server.close();
    expect(next.kind).toBe('send');
    // Clients whose neighbour refused still have 3 = t of 4: the round goes on to a result.
    const peerKeys = (next as { messages: Map<string, PeerKeys> }).messages;
    await answer(r, peerKeys, (c, m) => c.shareKeys(m));
    await answer(r, await r.step<RoutedShares>(), (c, m) => c.maskInput(m, UPDATE));
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect(done.result.dropouts).toEqual([{ id: a, phase: 'advertise-keys', reason: 'not today' }]);
    expect(done.result.survivors).toEqual(rest);
    expect(done.result.totalWeight).toBe(3 * rest.length);
    expect(r.server.phase).toBe('done');
    expect(() => r.server.receive(a, r.adverts.get(a)!)).toThrow(new SecAggMessageError('round 1 is done'));
  });

  it('after consistency when a survivor has fewer than t signers to reveal its seed', async () => {
    const r = await stepRound();
    const requests = await runTo<ConsistencyRequest>(r, 'consistency');
    // Two clients do not sign: some survivor keeps at most 2 signing neighbours.
    const [a, b] = r.ids;
    await answer(r, requests, (c, m) => c.consistency(m), [a, b]);
    const out = await r.server.close();
    expect(out.kind).toBe('aborted');
    if (out.kind === 'aborted')
      expect(out.reason).toMatch(
        /^after consistency: [0-2] shares of the self-mask seed of 'client-00\d', fewer than the threshold 3 can be revealed by clients that signed the survivor list$/,
      );
  });

  it('during unmask when a secret has fewer than t revealers', async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a, b, c] = r.ids;
    // a drops after sharing keys (its masking key must be revealed); b and c then do not reveal.
    await answer(r, routed, (client, m) => client.maskInput(m, UPDATE), [a]);
    await answer(r, await r.step<ConsistencyRequest>(), (client, m) => client.consistency(m));
    const requests = await r.step<UnmaskRequest>();
    expect(r.server.complete()).toBe(false);
    await answer(r, requests, (client, m) => client.unmask(m), [b, c]);
    expect(r.server.complete()).toBe(false);
    const out = await r.server.close();
    expect(out).toMatchObject({ kind: 'aborted' });
    if (out.kind === 'aborted')
      expect(out.reason).toMatch(
        /^during unmask: [0-2] shares of the (self-mask seed of|masking key of dropped client) 'client-00\d', fewer than the threshold 3$/,
      );
  });

  it('naming the first bad dealer of a self-mask seed in id order, whatever order the masked inputs came in', async () => {
    const ids = clientIds(6);
    const dealers = [ids[1], ids[3]];
    const Bad = badDealer('selfMaskSeed', 3);
    const r = await stepRound({
      makeClient: (o: SecAggClientOptions) => (dealers.includes(o.id) ? new Bad(o) : new SecAggClient(o)),
    });
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    await answer(r, new Map([...routed].reverse()), (c, m) => c.maskInput(m, UPDATE));
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    expect(await r.server.close()).toEqual({
      kind: 'aborted',
      reason: `during unmask: the self-mask seed rebuilt for '${ids[1]}' does not match what it committed to, from shares it committed to itself: '${ids[1]}' dealt bad shares`,
      dropouts: [],
      culprit: ids[1],
    });
  });

  it('naming the first bad dealer of a dropped masking key in id order, whatever order the keys were shared in', async () => {
    // 10 clients on a 6-regular graph (t = 4): two may drop before masking and every survivor keeps 4 live neighbours.
    const ids = clientIds(10);
    const dealers = [ids[2], ids[7]];
    const Bad = badDealer('maskingKey', 4);
    const r = await stepRound({
      clients: 10,
      graph: { k: 6, threshold: 4 },
      makeClient: (o: SecAggClientOptions) => (dealers.includes(o.id) ? new Bad(o) : new SecAggClient(o)),
    });
    for (const [id, m] of r.adverts) r.server.receive(id, m);
    const peerKeys = await r.step<PeerKeys>();
    await answer(r, new Map([...peerKeys].reverse()), (c, m) => c.shareKeys(m));
    await answer(r, await r.step<RoutedShares>(), (c, m) => c.maskInput(m, UPDATE), dealers);
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    expect(await r.server.close()).toEqual({
      kind: 'aborted',
      reason: `during unmask: the masking key rebuilt for '${ids[2]}' does not match what it committed to, from shares it committed to itself: '${ids[2]}' dealt bad shares`,
      dropouts: [...dealers].reverse().map((id) => ({ id, phase: 'masked-input' })),
      culprit: ids[2],
    });
  });
});

describe('SecAggServer rebuilds a dropped client', () => {
  it("masking key from exactly t shares, when the rest of the dropped client's neighbours left before", async () => {
    // 10 clients on a 6-regular ring (t = 4): v drops after sharing keys, two of its neighbours
    // (3 apart from it on the ring, on either side) never advertised, so exactly 4 hold its key.
    const r = await stepRound({ clients: 10, graph: { k: 6, threshold: 4 } });
    const graph = roundContext(r.setup).graph;
    const ring = [r.ids[0]];
    while (ring.length < r.ids.length) ring.push(...graph.get(ring[ring.length - 1])!.slice(3));
    const [v, early] = [ring[0], [ring[3], ring[7]]];
    expect(graph.get(v)!.filter((w) => !early.includes(w))).toHaveLength(4);
    for (const [id, m] of r.adverts) if (!early.includes(id)) r.server.receive(id, m);
    await answer(r, await r.step<PeerKeys>(), (c, m) => c.shareKeys(m));
    await answer(r, await r.step<RoutedShares>(), (c, m) => c.maskInput(m, UPDATE), [v]);
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    const done = await r.server.close();
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect(done.result.survivors).toEqual(r.ids.filter((id) => id !== v && !early.includes(id)));
    expect(done.result.dropouts).toEqual([
      ...[...early].sort().map((id) => ({ id, phase: 'advertise-keys' })),
      { id: v, phase: 'masked-input' },
    ]);
    for (const [i, x] of UPDATE.delta.entries()) expect(done.result.mean[i]).toBeCloseTo(x, 5);
  });
});

describe('SecAggServer checks the unmasked mean against the clip range plus the rounding bound', () => {
  /** A round of `delta` from every client (weight 3), `units` fixed-point units added to coordinate 0 by one client. */
  async function withUnits(
    units: number,
    options: { wordBits?: 16; clip?: number } = {},
    delta = Float32Array.from([1, -1]),
  ): Promise<ServerStep> {
    const r = await stepRound(options);
    const update = { delta, numExamples: 3 };
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a] = r.ids;
    await answer(r, routed, async (c, m) => {
      const reply = await c.maskInput(m, update);
      if (c !== r.clients.get(a) || reply.type !== 'secagg/masked-input') return reply;
      const masked = Uint8Array.from(reply.masked);
      const view = new DataView(masked.buffer);
      view.setUint32(0, (view.getUint32(0, true) + units) >>> 0, true);
      return { ...reply, masked };
    });
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    return r.server.close();
  }

  it('accepts a mean at the clip, and one up to the error bound beyond it, and refuses one unit more', async () => {
    // 6 clients of weight 3 (maxWeight 10) in 16-bit words: s = floor(32767 / 6) - 1 = 5460 units per
    // unit of value, each client's 1 x 3/10 is 1638 units, and the error bound 6 x 10 / (5460 x 18) is 6 units of the sum.
    const exact = await withUnits(0, { wordBits: 16 });
    if (exact.kind !== 'done') throw new Error(JSON.stringify(exact));
    expect([...exact.result.mean]).toEqual([1, -1]);
    expect(exact.result.errorBound).toBe(60 / 98280);
    const edge = await withUnits(6, { wordBits: 16 });
    if (edge.kind !== 'done') throw new Error(JSON.stringify(edge));
    expect(edge.result.mean[0]).toBe(Math.fround(1 + 6 / 9828));
    const beyond = await withUnits(7, { wordBits: 16 });
    if (beyond.kind !== 'aborted') throw new Error(JSON.stringify(beyond));
    expect(beyond.reason).toBe(
      `during unmask: coordinate 0 of the mean is ${Math.fround(1 + 7 / 9828)}, outside the clip range +-1 (+${(60 / 98280).toExponential(2)}): some client sent words outside the encoding`,
    );
  });

  it('accepts a mean exactly at the limit (clip + error bound) x (1 + 2^-22)', async () => {
    // 6 clients of weight 3 in 32-bit words: s = (floor((2^31 - 1) / 6) - 1) / clip. This clip makes
    // clip + error bound exactly 1, so the limit 1 + 2^-22 is a float32 a decoded mean can equal.
    const clip = 1 / (1 + 60 / (357913940 * 18));
    const p = { clip, maxWeight: 10, maxClients: 6 };
    expect(clip + aggregateErrorBound(p, 6, 18)).toBe(1);
    const limit = 1 + 2 ** -22;
    const factor = 10 / (fixedPointScale(p) * 18);
    const units = Math.round(limit / factor);
    expect(Math.fround(units * factor)).toBe(limit);
    const done = await withUnits(units, { clip }, new Float32Array(2));
    if (done.kind !== 'done') throw new Error(JSON.stringify(done));
    expect([...done.result.mean]).toEqual([limit, 0]);
  });
});

describe('SecAggServer with clients given different tasks', () => {
  it("checks each consistency signature against the statement of the signer's own task digest", async () => {
    // Honest clients of two digests refuse each other, so the coordinator's side is fed directly:
    // signed keys, share boxes and masked inputs of the right sizes (the coordinator opens none of them).
    // The two digests would read alike as hex without the zero padding ('01' '23' and '12' '03').
    const r = await stepRound();
    const digests = [
      Uint8Array.from([0x01, 0x23, ...new Uint8Array(30)]),
      Uint8Array.from([0x12, 0x03, ...new Uint8Array(30)]),
    ];
    const digestOf = (id: string) => digests[r.ids.indexOf(id) % 2];
    const { round, nonce } = r.setup;
    for (const id of r.ids) {
      const keys = {
        encryptionKey: new Uint8Array(32).fill(1),
        maskingKey: new Uint8Array(32).fill(2),
        digest: digestOf(id),
        seedCommitment: new Uint8Array(32).fill(3),
        shareRoot: new Uint8Array(32).fill(4),
      };
      const signature = signAdvertisement({ round, nonce, clientId: id, ...keys }, r.identities.get(id)!);
      r.server.receive(id, { type: 'secagg/advertise-keys', round, ...keys, signature });
    }
    const peerKeys = await r.step<PeerKeys>();
    // The size of an honest share box, from an honest round of the same shape.
    const honest = await stepRound();
    const [first] = honest.ids;
    const boxBytes = (
      await honest.clients.get(first)!.shareKeys((await runTo<PeerKeys>(honest, 'share-keys')).get(first)!)
    ).shares[0].sealed.length;
    for (const [id, m] of peerKeys)
      r.server.receive(id, {
        type: 'secagg/share-keys',
        round,
        shares: m.peers.map((p) => ({ to: p.id, sealed: new Uint8Array(boxBytes) })),
      });
    const routed = await r.step<RoutedShares>();
    for (const id of routed.keys())
      r.server.receive(id, { type: 'secagg/masked-input', round, masked: new Uint8Array(12) });
    const requests = await r.step<ConsistencyRequest>();
    for (const [id, m] of requests) {
      const statement = { round, nonce, digest: digestOf(id), survivors: m.survivors };
      r.server.receive(id, {
        type: 'secagg/consistency',
        round,
        signature: signSurvivors(statement, r.identities.get(id)!),
      });
    }
    expect(r.server.pending()).toEqual([]);
    const next = await r.server.close();
    expect(next).toMatchObject({ kind: 'send', phase: 'unmask' });
  });
});
