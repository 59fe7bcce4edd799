import { describe, expect, it } from 'vitest';
import { SecAggMessageError } from '../../../shared/secagg/errors.js';
import { widenMaskedWords } from '../../../shared/secagg/encoding.js';
import { roundContext } from '../../../shared/secagg/round.js';
import {
  answer,
  runTo,
  stepRound,
  transported,
  UPDATE,
  type ClientMessage,
  type ConsistencyRequest,
  type RoutedShares,
  type Stepped,
  type UnmaskRequest,
} from './stepper.js';

/** The masked inputs of `ids` added up mod 2^32, as a cluster node forwards them (16-bit words widened first). */
async function nodeSum(r: Stepped, routed: Map<string, RoutedShares>, ids: readonly string[]): Promise<Uint32Array> {
  const words = r.setup.vectorLength + 1;
  const sum = new Uint32Array(words);
  for (const id of ids) {
    const reply: ClientMessage = transported(r, await r.clients.get(id)!.maskInput(routed.get(id)!, UPDATE));
    if (reply.type !== 'secagg/masked-input') throw new Error(reply.type);
    const w = r.setup.wordBits
      ? widenMaskedWords(reply.masked, words - 1, roundContext(r.setup).encoding)
      : new Uint32Array(reply.masked.slice().buffer);
    for (let i = 0; i < words; i++) sum[i] = (sum[i] + w[i]) >>> 0;
  }
  return sum;
}

/** Runs the rest of the round after the masked-input phase; the result. */
async function finish(r: Stepped) {
  await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
  await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
  const done = await r.server.close();
  if (done.kind !== 'done') throw new Error(JSON.stringify(done));
  return done.result;
}

describe('SecAggServer.receiveMaskedSum', () => {
  for (const wordBits of [32, 16] as const)
    it(`takes two nodes' sums of ${wordBits}-bit masked inputs and one client's own, and unmasks the same mean`, async () => {
      const r = await stepRound(wordBits === 16 ? { wordBits } : {});
      const routed = await runTo<RoutedShares>(r, 'masked-input');
      const [a, b, c, d, e, f] = r.ids;
      r.server.receiveMaskedSum([a, b], await nodeSum(r, routed, [a, b]));
      r.server.receiveMaskedSum([c, d, e], await nodeSum(r, routed, [c, d, e]));
      expect(r.server.pending()).toEqual([f]);
      await answer(r, new Map([[f, routed.get(f)!]]), (client, m) => client.maskInput(m, UPDATE));
      const result = await finish(r);
      expect(result.survivors).toEqual(r.ids);
      expect(result.totalWeight).toBe(UPDATE.numExamples * r.ids.length);
      for (const [i, v] of UPDATE.delta.entries()) expect(result.mean[i]).toBeCloseTo(v, 3);
    });

  it('refuses, changing nothing, a sum in another phase, naming nobody, a client twice, one not expected, or of the wrong size', async () => {
    const r = await stepRound();
    const words = new Uint32Array(r.setup.vectorLength + 1);
    const [a, b] = r.ids;
    expect(() => r.server.receiveMaskedSum([a], words)).toThrow(
      new SecAggMessageError(`'masked input sum' arrived in phase 'advertise-keys'`),
    );
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    expect(() => r.server.receiveMaskedSum([], words)).toThrow(
      new SecAggMessageError('a masked input sum names no sender'),
    );
    expect(() => r.server.receiveMaskedSum([a, a], words)).toThrow(
      new SecAggMessageError(`a masked input sum names '${a}' twice`),
    );
    expect(() => r.server.receiveMaskedSum([a, 'client-999'], words)).toThrow(
      new SecAggMessageError(
        `'client-999' is not expected in phase 'masked-input' (not selected, dropped, or already answered)`,
      ),
    );
    expect(() => r.server.receiveMaskedSum([a], new Uint32Array(words.length + 1))).toThrow(
      new SecAggMessageError(`a masked input sum has ${words.length + 1} words, expected ${words.length}`),
    );
    expect(r.server.pending()).toEqual(r.ids);
    // Accepted once: a second sum naming a client already in is refused, and so is its own message.
    r.server.receiveMaskedSum([a], await nodeSum(r, routed, [a]));
    expect(() => r.server.receiveMaskedSum([a, b], words)).toThrow(/'client-\d+' is not expected in phase/);
    expect(r.server.pending()).toEqual(r.ids.filter((id) => id !== a));
  });

  it('a forged sum (words no honest clients add up to) fails the unmasked range check, naming nobody', async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a, b] = r.ids;
    const forged = await nodeSum(r, routed, [a, b]);
    forged[0] = (forged[0] + 2 ** 30) >>> 0;
    r.server.receiveMaskedSum([a, b], forged);
    await answer(r, routed, (c, m) => c.maskInput(m, UPDATE), [a, b]);
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    const end = await r.server.close();
    expect(end.kind).toBe('aborted');
    if (end.kind !== 'aborted') return;
    expect(end.reason).toMatch(/^during unmask: coordinate 0 of the mean is .* outside the clip range/);
    expect(end.culprit).toBeUndefined();
  });
});
