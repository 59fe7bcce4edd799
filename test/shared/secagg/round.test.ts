import { describe, expect, it } from 'vitest';
import { neighbourGraph } from '../../../shared/secagg/graph.js';
import { graphSeed } from '../../../shared/secagg/kdf.js';
import type { SecAggSetup } from '../../../shared/secagg/messages.js';
import { resolveGraphParams } from '../../../shared/secagg/params.js';
import { createSetup, roundContext } from '../../../shared/secagg/round.js';

const key = (i: number) => new Uint8Array(32).fill(i);
const ids = ['carol', 'alice', 'erin', 'bob', 'dave', 'frank', 'grace', 'heidi'];
const participants = ids.map((id, i) => ({ id, identityKey: key(i + 1) }));

function setup(overrides: Partial<SecAggSetup> = {}): SecAggSetup {
  return {
    round: 4,
    nonce: new Uint8Array(32).fill(9),
    participants,
    k: 4,
    threshold: 3,
    vectorLength: 10,
    clip: 2,
    maxWeight: 50,
    ...overrides,
  };
}

describe('roundContext', () => {
  it('derives the graph from the round, nonce and sorted ids, whatever the participant order', () => {
    const sorted = [...ids].sort();
    const expected = neighbourGraph(sorted, 4, graphSeed(4, new Uint8Array(32).fill(9), sorted));
    const ctx = roundContext(setup());
    expect(ctx.graph).toEqual(expected);
    expect(roundContext(setup({ participants: [...participants].reverse() })).graph).toEqual(expected);
    // Another nonce gives another ring (for these ids and seeds).
    expect(roundContext(setup({ nonce: new Uint8Array(32).fill(8) })).graph).not.toEqual(expected);
  });

  it('takes the encoding from the setup, with one weight slot per participant', () => {
    expect(roundContext(setup()).encoding).toEqual({ clip: 2, maxWeight: 50, maxClients: 8 });
    expect(roundContext(setup({ wordBits: 16 })).encoding).toEqual({
      clip: 2,
      maxWeight: 50,
      maxClients: 8,
      wordBits: 16,
    });
  });

  it('maps every participant to its identity key and keeps the setup', () => {
    const s = setup();
    const ctx = roundContext(s);
    expect(ctx.setup).toBe(s);
    expect([...ctx.identityKeys.entries()]).toEqual(participants.map((p) => [p.id, p.identityKey]));
  });

  it('refuses duplicate ids, a nonce of another length, a bad threshold and bad encoding', () => {
    const twice = [...participants.slice(0, 7), { id: 'alice', identityKey: key(20) }];
    expect(() => roundContext(setup({ participants: twice }))).toThrow(new Error('participant ids must be unique'));
    for (const length of [31, 33]) {
      expect(() => roundContext(setup({ nonce: new Uint8Array(length) }))).toThrow(
        new Error('setup nonce must be 32 bytes'),
      );
    }
    expect(() => roundContext(setup({ threshold: 2 }))).toThrow(/threshold must be an integer in \[3, k = 4\], got 2/);
    expect(() => roundContext(setup({ threshold: 5 }))).toThrow(/threshold must be an integer in \[3, k = 4\], got 5/);
    expect(() => roundContext(setup({ clip: 0 }))).toThrow(/clip must be a positive finite number, got 0/);
    expect(() => roundContext(setup({ maxWeight: 2 ** 30 }))).toThrow(/does not fit the 32-bit weight slot/);
  });
});

describe('createSetup', () => {
  const options = { round: 2, participants, vectorLength: 7, clip: 1.5, maxWeight: 3 };

  it('resolves (k, threshold) for the participant count and draws a fresh nonce', () => {
    const { k, threshold } = resolveGraphParams(participants.length);
    const a = createSetup(options);
    expect(a).toEqual({
      round: 2,
      nonce: a.nonce,
      participants,
      k,
      threshold,
      vectorLength: 7,
      clip: 1.5,
      maxWeight: 3,
    });
    expect(a.nonce.length).toBe(32);
    const b = createSetup(options);
    expect(Buffer.from(b.nonce).equals(Buffer.from(a.nonce))).toBe(false);
    expect(a.participants).not.toBe(participants);
  });

  it('takes configured graph parameters and 16-bit words', () => {
    const s = createSetup({ ...options, graph: { k: 6, threshold: 5 }, wordBits: 16 });
    expect(s).toMatchObject({ k: 6, threshold: 5, wordBits: 16 });
    expect('wordBits' in createSetup(options)).toBe(false);
  });

  it('validates what it builds', () => {
    expect(() => createSetup({ ...options, graph: { k: 4, threshold: 2 } })).toThrow(/threshold must be an integer/);
    expect(() => createSetup({ ...options, clip: -1 })).toThrow(/clip must be a positive finite number/);
    expect(() => createSetup({ ...options, participants: [...participants, participants[0]] })).toThrow(
      /participant ids must be unique/,
    );
  });
});
