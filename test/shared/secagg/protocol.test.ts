import { describe, expect, it } from 'vitest';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import {
  createSetup,
  generateIdentity,
  IdentityPins,
  SecAggClient,
  SecAggClientMessageSchema,
  type SecAggClientMessage,
  SecAggRefusal,
  SecAggServer,
  webCryptoKeystream,
  wireBytes,
  type ActivePhase,
  type LocalUpdate,
  type SecAggServerMessage,
} from '../../../shared/secagg/index.js';
import type { SecretShares } from '../../../shared/secagg/client.js';
import { seedCommitment, verifySurvivors } from '../../../shared/secagg/identity.js';
import { roundContext } from '../../../shared/secagg/round.js';
import { clientIds, DIGEST, runSecAgg, type DriverOptions, type DriverRun } from './driver.js';

const CLIP = 1;
const MAX_WEIGHT = 1000;

/** Random updates, a few values beyond the clip and a few example counts beyond the cap. */
function randomUpdates(n: number, m: number): Map<string, LocalUpdate> {
  return new Map(
    clientIds(n).map((id, i) => [
      id,
      {
        delta: Float32Array.from({ length: m }, (_, j) => (j === 0 && i % 3 === 0 ? 3 : Math.random() * 2 - 1)),
        numExamples: i % 5 === 0 ? 1500 : 1 + Math.floor(Math.random() * 999),
      },
    ]),
  );
}

async function run(
  n: number,
  m: number,
  extra: Partial<DriverOptions> = {},
): Promise<{ result: DriverRun; updates: Map<string, LocalUpdate> }> {
  const updates = randomUpdates(n, m);
  const result = await runSecAgg({
    clients: n,
    vectorLength: m,
    clip: CLIP,
    maxWeight: MAX_WEIGHT,
    update: (id) => updates.get(id)!,
    ...extra,
  });
  return { result, updates };
}

/** The secure mean equals plaintext weighted FedAvg over the survivors, within the stated bound. */
function expectFedAvg(result: DriverRun, updates: Map<string, LocalUpdate>, survivors: string[]): void {
  const outcome = result.outcome;
  if (outcome.kind !== 'done') throw new Error(`round aborted: ${outcome.reason}`);
  expect(outcome.result.survivors).toEqual([...survivors].sort());
  const plain = new WeightedMean().aggregate(
    survivors.map((id) => {
      const u = updates.get(id)!;
      return {
        clientId: id,
        delta: u.delta.map((x) => Math.max(-CLIP, Math.min(CLIP, x))),
        numExamples: Math.min(u.numExamples, MAX_WEIGHT),
      };
    }),
  );
  const { mean, errorBound } = outcome.result;
  expect(errorBound).toBeLessThan(1e-6);
  expect(mean).toHaveLength(plain.length);
  // The bound, plus float32 rounding of the two results (half an ulp each, at most 2^-24 relative).
  plain.forEach((p, i) =>
    expect(Math.abs(mean[i] - p), `coordinate ${i}`).toBeLessThanOrEqual(
      errorBound + 2 ** -24 * (Math.abs(p) + Math.abs(mean[i])),
    ),
  );
}

const drops = (entries: [number, ActivePhase][]) => new Map(entries.map(([i, phase]) => [clientIds(100)[i], phase]));
const without = (n: number, gone: number[]) => clientIds(n).filter((_, i) => !gone.includes(i));

describe('SecAgg+ round without dropouts', () => {
  it.each([3, 4, 5, 8, 13, 21, 50])('n = %i: equals plaintext weighted FedAvg within the stated bound', async (n) => {
    const { result, updates } = await run(n, 24);
    expect(result.refusals.size + result.rejected.length).toBe(0);
    expectFedAvg(result, updates, clientIds(n));
  });

  it('interoperates: clients on WebCrypto and on Node crypto mask compatibly', async () => {
    const web = webCryptoKeystream();
    const { result, updates } = await run(8, 300, {
      keystreamFor: (id) => (Number(id.slice(-1)) % 2 ? web : undefined),
    });
    expectFedAvg(result, updates, clientIds(8));
  });
});

describe('dropouts', () => {
  it.each<[string, [number, ActivePhase][], number[]]>([
    ['before advertising', [[2, 'advertise-keys']], [2]],
    ['after advertise (no shares sent)', [[3, 'share-keys']], [3]],
    [
      'after share keys (no masked input): its pairwise masks are rebuilt',
      [
        [1, 'masked-input'],
        [6, 'masked-input'],
      ],
      [1, 6],
    ],
    ['during consistency (masked input in, no signature): its update still counts', [[4, 'consistency']], []],
    ['during unmask (masked input in, no reveal): its update still counts', [[4, 'unmask']], []],
    [
      'at every stage at once',
      [
        [0, 'advertise-keys'],
        [3, 'share-keys'],
        [5, 'masked-input'],
        [7, 'consistency'],
        [9, 'unmask'],
      ],
      [0, 3, 5],
    ],
  ])('survives a client lost %s', async (_, entries, gone) => {
    // Any 5 of a client's 14 neighbours may be gone and 9 >= t remain.
    const { result, updates } = await run(20, 20, { dropAt: drops(entries), graph: { k: 14, threshold: 8 } });
    expectFedAvg(result, updates, without(20, gone));
    const outcome = result.outcome;
    if (outcome.kind !== 'done') throw new Error('unreachable');
    expect(outcome.result.dropouts.map((d) => [d.id, d.phase]).sort()).toEqual(
      entries.map(([i, phase]) => [clientIds(20)[i], phase]).sort(),
    );
  });

  it('survives 30% dropout after share keys with k, t chosen for it', async () => {
    const gone = [1, 4, 7, 10, 13, 16];
    const { result, updates } = await run(20, 16, {
      dropAt: drops(gone.map((i) => [i, 'masked-input'])),
      assumptions: { dropout: 0.3, corrupt: 0.05, failure: 1e-3, exposure: 1e-6 },
    });
    expectFedAvg(result, updates, without(20, gone));
  });

  it.each<[string, ActivePhase, RegExp]>([
    [
      'after advertise',
      'share-keys',
      /after share keys: client '.*' has \d live neighbours, fewer than the threshold 4/,
    ],
    [
      'after masked input',
      'masked-input',
      /after masked input: client '.*' has \d live neighbours, fewer than the threshold 4/,
    ],
    ['during unmask', 'unmask', /during unmask: \d shares of the self-mask seed of '.*', fewer than the threshold 4/],
  ])('aborts cleanly, with the reason, when too many drop %s', async (_, phase, reason) => {
    const { result } = await run(10, 8, {
      dropAt: drops([0, 1, 2, 3, 4, 5].map((i) => [i, phase])),
      graph: { k: 6, threshold: 4 },
    });
    expect(result.outcome.kind).toBe('aborted');
    if (result.outcome.kind === 'aborted') {
      expect(result.outcome.reason).toMatch(reason);
      expect(result.outcome.dropouts).toHaveLength(6);
    }
  });
});

describe('a coordinator that tampers is caught by honest clients', () => {
  it('refuses a swapped advertised key (signature check), and the coordinator learns why', async () => {
    const coordinatorKeys = generateIdentity();
    const { result } = await run(6, 8, {
      graph: { k: 5, threshold: 4 },
      intercept: (to, message) => {
        if (to !== clientIds(6)[0] || message.type !== 'secagg/peer-keys') return message;
        const [first, ...rest] = message.peers;
        return { ...message, peers: [{ ...first, encryptionKey: coordinatorKeys.publicKey }, ...rest] };
      },
    });
    expect(result.refusals.get(clientIds(6)[0])).toMatch(/fail its identity signature/);
    if (result.outcome.kind !== 'done') throw new Error('the others should finish');
    expect(result.outcome.result.dropouts).toContainEqual({
      id: clientIds(6)[0],
      phase: 'share-keys',
      reason: expect.stringMatching(/signature/),
    });
  });

  it('refuses a routed share box that was altered, or reflected back to its author', async () => {
    const [altered, reflected, other] = clientIds(6);
    const sentBy = new Map<string, Map<string, Uint8Array>>();
    const { result } = await run(6, 8, {
      graph: { k: 5, threshold: 4 },
      serverAudit: {
        received: (from, message) => {
          const m = message as { type: string; shares?: { to: string; sealed: Uint8Array }[] };
          if (m.type === 'secagg/share-keys') sentBy.set(from, new Map(m.shares!.map((s) => [s.to, s.sealed])));
        },
      },
      intercept: (to, message) => {
        if (message.type !== 'secagg/routed-shares') return message;
        if (to === altered)
          return {
            ...message,
            shares: message.shares.map((s, i) =>
              i === 0 ? { ...s, sealed: s.sealed.map((b, j) => (j === 40 ? b ^ 1 : b)) } : s,
            ),
          };
        if (to === reflected)
          return {
            ...message,
            shares: message.shares.map((s, i) => (i === 0 ? { ...s, sealed: sentBy.get(reflected)!.get(s.from)! } : s)),
          };
        return message;
      },
    });
    expect(result.refusals.get(altered)).toMatch(/fail authentication/);
    expect(result.refusals.get(reflected)).toMatch(/fail authentication/);
    expect(result.refusals.has(other)).toBe(false);
  });

  it('refuses a roster whose identity keys changed since an earlier round', async () => {
    const ids = clientIds(5);
    const identities = new Map(ids.map((id) => [id, generateIdentity()]));
    const pins = new Map(ids.map((id) => [id, new IdentityPins()]));
    const base = { graph: { k: 4, threshold: 3 }, identities, pinsFor: (id: string) => pins.get(id) };
    expect((await run(5, 4, base)).result.outcome.kind).toBe('done');
    const impostor = generateIdentity();
    const { result } = await run(5, 4, {
      ...base,
      interceptSetup: (to, setup) =>
        to === ids[0]
          ? {
              ...setup,
              participants: setup.participants.map((p) =>
                p.id === ids[1] ? { ...p, identityKey: impostor.publicKey } : p,
              ),
            }
          : setup,
    });
    expect(result.refusals.get(ids[0])).toMatch(/identity key of 'client-001' differs/);
  });
});

describe('the client', () => {
  it('reveals exactly one share per neighbour whose shares it holds: never both', async () => {
    const reveals: { from: string; self: string[]; keys: string[] }[] = [];
    const { result } = await run(10, 8, {
      graph: { k: 6, threshold: 4 },
      dropAt: drops([[2, 'masked-input']]),
      serverAudit: {
        received: (from, message) => {
          if ((message as { type: string }).type === 'secagg/unmask') {
            const u = message as { selfMaskShares: { of: string }[]; maskingKeyShares: { of: string }[] };
            reveals.push({ from, self: u.selfMaskShares.map((s) => s.of), keys: u.maskingKeyShares.map((s) => s.of) });
          }
        },
      },
    });
    expect(result.outcome.kind).toBe('done');
    const graph = roundContext(result.setup).graph;
    for (const r of reveals) {
      expect(r.self.filter((v) => r.keys.includes(v))).toEqual([]);
      expect([...r.self, ...r.keys].sort()).toEqual([...graph.get(r.from)!].sort());
      expect(r.keys).toEqual(graph.get(r.from)!.includes(clientIds(10)[2]) ? [clientIds(10)[2]] : []);
    }
  });

  it('refuses to run a phase twice or out of order', async () => {
    const ids = clientIds(3);
    const identities = ids.map(() => generateIdentity());
    const setup = createSetup({
      round: 1,
      participants: ids.map((id, i) => ({ id, identityKey: identities[i].publicKey })),
      vectorLength: 2,
      clip: 1,
      maxWeight: 10,
    });
    const client = new SecAggClient({ id: ids[0], identity: identities[0], setup, digest: DIGEST });
    await expect(
      client.maskInput(
        { type: 'secagg/routed-shares', round: 1, shares: [] },
        { delta: new Float32Array(2), numExamples: 1 },
      ),
    ).rejects.toThrow(SecAggRefusal);
    expect(client.phase).toBe('refused');
    await expect(client.advertise()).rejects.toThrow(/already refused/);
    const fresh = new SecAggClient({ id: ids[1], identity: identities[1], setup, digest: DIGEST });
    await fresh.advertise();
    await expect(fresh.advertise()).rejects.toThrow(/out of order/);
    const early = new SecAggClient({ id: ids[2], identity: identities[2], setup, digest: DIGEST });
    await early.advertise();
    expect(() => early.unmask({ type: 'secagg/unmask-request', round: 1, survivors: ids, signatures: [] })).toThrow(
      /out of order/,
    );
    expect(() => new SecAggClient({ id: ids[0], identity: identities[1], setup, digest: DIGEST })).toThrow(
      /another identity key/,
    );
    expect(
      () =>
        new SecAggClient({ id: ids[0], identity: identities[0], setup: { ...setup, threshold: 1 }, digest: DIGEST }),
    ).toThrow(/invalid round setup: threshold/);
  });
});

describe('the coordinator', () => {
  it('rejects messages out of phase, duplicated, from strangers or of the wrong size, unchanged', async () => {
    const ids = clientIds(3);
    const identities = ids.map(() => generateIdentity());
    const setup = createSetup({
      round: 5,
      participants: ids.map((id, i) => ({ id, identityKey: identities[i].publicKey })),
      vectorLength: 2,
      clip: 1,
      maxWeight: 10,
    });
    const server = new SecAggServer({ setup });
    const clients = ids.map((id, i) => new SecAggClient({ id, identity: identities[i], setup, digest: DIGEST }));
    const adverts = await Promise.all(clients.map((c) => c.advertise()));
    expect(() => server.receive('stranger', adverts[0])).toThrow(/not expected/);
    expect(() => server.receive(ids[1], adverts[0])).toThrow(/fail its identity signature/);
    expect(() => server.receive(ids[0], { type: 'secagg/masked-input', round: 5, masked: new Uint8Array(12) })).toThrow(
      /arrived in phase 'advertise-keys'/,
    );
    expect(() => server.receive(ids[0], { ...adverts[0], round: 4 })).toThrow(/round 4/);
    ids.forEach((id, i) => server.receive(id, adverts[i]));
    expect(() => server.receive(ids[0], adverts[0])).toThrow(/already answered/);
    expect(server.complete()).toBe(true);
    const step = await server.close();
    if (step.kind !== 'send') throw new Error('expected peer keys');
    const shares = await Promise.all(clients.map((c, i) => c.shareKeys(step.messages.get(ids[i]) as never)));
    ids.forEach((id, i) => server.receive(id, shares[i]));
    const routed = await server.close();
    if (routed.kind !== 'send') throw new Error('expected routed shares');
    expect(() => server.receive(ids[0], { type: 'secagg/masked-input', round: 5, masked: new Uint8Array(8) })).toThrow(
      /8 bytes, expected 12/,
    );
    expect(server.pending()).toEqual(ids);
  });
});

describe('messages', () => {
  it('accept binary as browsers deliver it (ArrayBuffer) and count bytes as their envelope', () => {
    const masked = new Uint32Array([1, 2, 3]).buffer;
    const parsed = SecAggClientMessageSchema.parse({ type: 'secagg/masked-input', round: 1, masked });
    if (parsed.type !== 'secagg/masked-input') throw new Error('wrong type');
    expect(parsed.masked).toBeInstanceOf(Uint8Array);
    expect(parsed.masked).toHaveLength(12);
    // Header, JSON with a placeholder for the 12 bytes, then the bytes.
    expect(wireBytes(parsed)).toBe(
      4 + JSON.stringify({ type: 'secagg/masked-input', round: 1, masked: { $b: [0, 12] } }).length + 12,
    );
    expect(() =>
      SecAggClientMessageSchema.parse({
        type: 'secagg/advertise-keys',
        round: 1,
        encryptionKey: new Uint8Array(31),
        maskingKey: new Uint8Array(32),
        digest: new Uint8Array(32),
        seedCommitment: new Uint8Array(32),
        signature: new Uint8Array(64),
      }),
    ).toThrow(/32 bytes/);
    expect(() => SecAggClientMessageSchema.parse({ type: 'secagg/masked-input', round: 1, masked: [1, 2, 3] })).toThrow(
      /binary/,
    );
  });
});

describe('audit: what the coordinator sees', () => {
  it('is independent of any single client update (uncorrelated, uniform words) while the aggregate is right', async () => {
    const n = 6;
    const m = 4096;
    const received = new Map<string, Uint32Array>();
    const plaintext = new Map<string, Uint32Array>();
    // Strongly structured updates: a ramp, a constant, a sine, zeros...
    const shapes = [
      (j: number) => j / m,
      () => 0.9,
      (j: number) => Math.sin(j / 50),
      () => 0,
      (j: number) => (j % 2 ? 1 : -1),
      (j: number) => -j / m,
    ];
    const updates = new Map(
      clientIds(n).map((id, i) => [
        id,
        { delta: Float32Array.from({ length: m }, (_, j) => shapes[i](j)), numExamples: 100 * (i + 1) },
      ]),
    );
    const result = await runSecAgg({
      clients: n,
      vectorLength: m,
      clip: CLIP,
      maxWeight: MAX_WEIGHT,
      update: (id) => updates.get(id)!,
      serverAudit: {
        received: (from, message) => {
          if ((message as { type: string }).type === 'secagg/masked-input') {
            const b = (message as { masked: Uint8Array }).masked;
            received.set(from, new Uint32Array(b.slice().buffer));
          }
        },
      },
      clientAudit: (id) => ({ plaintext: (r) => plaintext.set(id, r.encoded) }),
    });
    expectFedAvg(result, updates, clientIds(n));
    const nonConstant = [0, 2, 4, 5].map((i) => clientIds(n)[i]);
    for (const id of clientIds(n)) {
      const seen = received.get(id)!;
      expect(chiSquareTopByte(seen), `${id} words look uniform`).toBeLessThan(255 + 6 * Math.sqrt(2 * 255));
      if (nonConstant.includes(id))
        expect(Math.abs(correlation(seen, updates.get(id)!.delta)), `${id} uncorrelated`).toBeLessThan(
          5 / Math.sqrt(m),
        );
    }
    // The same statistics do flag the unmasked encodings: the checks can fail.
    expect(chiSquareTopByte(plaintext.get(clientIds(n)[0])!)).toBeGreaterThan(10_000);
    expect(
      Math.abs(
        correlation(
          plaintext.get(clientIds(n)[0])!.map((w) => w ^ 0x80000000),
          updates.get(clientIds(n)[0])!.delta,
        ),
      ),
    ).toBeGreaterThan(0.99);
  });
});

/** Pearson correlation of words (as unsigned numbers) with the update's values. */
function correlation(words: Uint32Array, values: Float32Array): number {
  const m = values.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < m; i++) {
    mx += words[i] / m;
    my += values[i] / m;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < m; i++) {
    const dx = words[i] - mx;
    const dy = values[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Chi-square statistic of the words' top bytes against uniform (255 degrees of freedom). */
function chiSquareTopByte(words: Uint32Array): number {
  const counts = new Float64Array(256);
  for (const w of words) counts[w >>> 24]++;
  const expected = words.length / 256;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

describe('active security: what a lying coordinator or a cheating client gets', () => {
  const ids6 = clientIds(6);

  it.each<[string, (to: string, m: SecAggServerMessage) => SecAggServerMessage, RegExp]>([
    [
      'leaves the client off the survivor list',
      (to, m) =>
        m.type === 'secagg/consistency-request' && to === ids6[0]
          ? { ...m, survivors: m.survivors.filter((s) => s !== to) }
          : m,
      /our masked input is missing from the survivor list/,
    ],
    [
      'declares too many neighbours dropped',
      (to, m) =>
        m.type === 'secagg/consistency-request' && to === ids6[0]
          ? { ...m, survivors: m.survivors.filter((s) => s === to || s === ids6[1]) }
          : m,
      /only 1 neighbours survived, fewer than the threshold 4/,
    ],
    [
      'changes the survivor list between the signature and the unmask request',
      (to, m) => (m.type === 'secagg/unmask-request' && to === ids6[0] ? { ...m, survivors: m.survivors.slice(1) } : m),
      /lists other survivors than the list we signed/,
    ],
    [
      'brings fewer than t neighbour signatures',
      (to, m) =>
        m.type === 'secagg/unmask-request' && to === ids6[0] ? { ...m, signatures: m.signatures.slice(0, 3) } : m,
      /only 3 neighbours signed the same survivor list, fewer than the threshold 4/,
    ],
    [
      'forges a neighbour signature',
      (to, m) =>
        m.type === 'secagg/unmask-request' && to === ids6[0]
          ? {
              ...m,
              signatures: m.signatures.map((s, i) => (i === 0 ? { ...s, signature: new Uint8Array(64).fill(1) } : s)),
            }
          : m,
      /consistency signature of '.*' is not on the survivor list we signed/,
    ],
    [
      'attributes a signature to a stranger',
      (to, m) =>
        m.type === 'secagg/unmask-request' && to === ids6[0]
          ? { ...m, signatures: [...m.signatures, { id: 'mallory', signature: new Uint8Array(64) }] }
          : m,
      /attributed to 'mallory', who is not our neighbour/,
    ],
  ])('a coordinator that %s is refused: the client reveals nothing', async (_, intercept, reason) => {
    const revealed: string[] = [];
    const { result } = await run(6, 4, {
      intercept,
      interceptReply: (from, m) => (m.type === 'secagg/unmask' && revealed.push(from), m),
    });
    expect(result.refusals.get(ids6[0])).toMatch(reason);
    expect(revealed).not.toContain(ids6[0]);
  });

  it.each<[string, number]>([
    ['its value', 0],
    ['its x coordinate', 32],
  ])('a client that alters %s in a revealed share is named: its dealer never committed to it', async (_, byte) => {
    // client-005 leaves before unmasking, so every other secret needs all four remaining holders' shares.
    const forge = (from: string, m: SecAggClientMessage): SecAggClientMessage => {
      if (from !== ids6[1] || m.type !== 'secagg/unmask') return m;
      return {
        ...m,
        selfMaskShares: m.selfMaskShares.map((s) => ({ ...s, share: s.share.map((v, i) => (i === byte ? v ^ 1 : v)) })),
      };
    };
    const { result } = await run(6, 4, { interceptReply: forge, dropAt: drops([[5, 'unmask']]) });
    expect(result.outcome).toMatchObject({ kind: 'aborted', culprit: ids6[1] });
    if (result.outcome.kind === 'aborted')
      expect(result.outcome.reason).toMatch(
        /'client-001' revealed a share of the self-mask seed of 'client-00\d' that 'client-00\d' never committed to/,
      );
  });

  it('t revealed shares rebuild a self-mask seed, t - 1 do not: the client splits at exactly t', async () => {
    const commitments = new Map<string, Uint8Array>();
    const shares = new Map<string, Uint8Array[]>();
    const { result } = await run(6, 4, {
      interceptReply: (from, m) => {
        if (m.type === 'secagg/advertise-keys') commitments.set(from, m.seedCommitment);
        if (m.type === 'secagg/unmask')
          for (const s of m.selfMaskShares) shares.set(s.of, [...(shares.get(s.of) ?? []), new Uint8Array(s.share)]);
        return m;
      },
    });
    expect(result.outcome.kind).toBe('done');
    const { combine } = await import('shamir-secret-sharing');
    const owner = ids6[0];
    const committed = (seed: Uint8Array) =>
      Buffer.from(seedCommitment(1, result.setup.nonce, owner, seed)).equals(Buffer.from(commitments.get(owner)!));
    const held = shares.get(owner)!;
    expect(held.length).toBeGreaterThanOrEqual(4);
    expect(committed(await combine(held.slice(0, 4)))).toBe(true);
    for (let skip = 0; skip < 4; skip++)
      expect(committed(await combine(held.slice(0, 4).filter((_, i) => i !== skip)))).toBe(false);
  });

  it('a client that deals shares other than those it committed to is refused by the neighbour receiving them', async () => {
    // client-002 signs a share root, then seals altered seed shares: each recipient would be blamed for them at unmask.
    class SloppyDealer extends SecAggClient {
      protected override shareBoxContent(to: string): Uint8Array {
        const content = super.shareBoxContent(to).slice();
        content[4 + 10] ^= 1;
        return content;
      }
    }
    const { result } = await run(6, 4, {
      makeClient: (o) => (o.id === ids6[2] ? new SloppyDealer(o) : new SecAggClient(o)),
    });
    expect(result.outcome.kind).toBe('aborted');
    const refused = [...result.refusals.values()];
    expect(refused.length).toBeGreaterThan(0);
    for (const reason of refused)
      expect(reason).toMatch(/shares from 'client-002' do not match the share root in its signed advertisement/);
  });

  it('a client that deals shares inconsistent with its seed commitment is named when the seed is rebuilt', async () => {
    class BadDealer extends SecAggClient {
      protected override async splitSecrets(count: number): Promise<SecretShares> {
        const honest = await super.splitSecrets(count);
        // Shares of another seed than the committed one, each properly signed by this client.
        const { split } = await import('shamir-secret-sharing');
        return { ...honest, selfMaskSeed: await split(new Uint8Array(32).fill(9), count, 4) };
      }
    }
    const { result } = await run(6, 4, {
      makeClient: (o) => (o.id === ids6[2] ? new BadDealer(o) : new SecAggClient(o)),
    });
    expect(result.outcome).toMatchObject({ kind: 'aborted', culprit: ids6[2] });
    if (result.outcome.kind === 'aborted')
      expect(result.outcome.reason).toMatch(
        /does not match what it committed to, from shares it committed to itself: 'client-002' dealt bad shares/,
      );
  });

  /**
   * The split-view attack with colluding neighbours: the coordinator shows some honest neighbours
   * of the victim a survivor list with it and the others one without it, forges nothing, and adds
   * what its sybils (who sign anything and reveal everything) give it. Returns the most shares of
   * the victim's self-mask seed and of its masking key the coordinator can hold at once.
   */
  async function splitView(sybils: number): Promise<{ seed: number; key: number }> {
    const ids = clientIds(6);
    const identities = new Map(ids.map((id) => [id, generateIdentity()]));
    const [victim, ...neighbours] = ids;
    const colluding = neighbours.slice(0, sybils);
    const honest = neighbours.slice(sybils);
    let best = { seed: 0, key: 0 };
    // Every way to split the honest neighbours between the two stories.
    for (let mask = 0; mask < 1 << honest.length; mask++) {
      const told = new Set(honest.filter((_, i) => mask & (1 << i)));
      const signatures = new Map<string, Uint8Array>();
      const listFor = (id: string, survivors: string[]) =>
        told.has(id) ? survivors.filter((s) => s !== victim) : survivors;
      let seed = colluding.length;
      let key = colluding.length;
      const { signSurvivors } = await import('../../../shared/secagg/identity.js');
      await runSecAgg({
        clients: 6,
        vectorLength: 4,
        update: () => ({ delta: new Float32Array(4), numExamples: 1 }),
        identities,
        intercept: (to, m) => {
          if (m.type === 'secagg/consistency-request') return { ...m, survivors: listFor(to, m.survivors) };
          if (m.type !== 'secagg/unmask-request') return m;
          const survivors = listFor(to, m.survivors);
          const statement = { round: 1, nonce: setupNonce!, digest: DIGEST, survivors: [...survivors].sort() };
          // Honest signatures the coordinator holds on this very list, and any its sybils make for it.
          const signed = [...signatures]
            .filter(([id, sig]) => id !== to && verifySurvivors(statement, sig, identities.get(id)!.publicKey))
            .map(([id, signature]) => ({ id, signature }));
          for (const id of colluding)
            if (id !== to) signed.push({ id, signature: signSurvivors(statement, identities.get(id)!) });
          return { ...m, survivors, signatures: signed.filter((s) => s.id !== to) };
        },
        interceptReply: (from, m) => {
          if (m.type === 'secagg/consistency') signatures.set(from, m.signature);
          if (m.type === 'secagg/unmask' && !colluding.includes(from)) {
            if (m.selfMaskShares.some((s) => s.of === victim)) seed++;
            if (m.maskingKeyShares.some((s) => s.of === victim)) key++;
          }
          return m;
        },
        onSetup: (setup) => void (setupNonce = setup.nonce),
      });
      if (Math.min(seed, key) > Math.min(best.seed, best.key)) best = { seed, key };
    }
    return best;
  }
  let setupNonce: Uint8Array | undefined;

  it('one colluding neighbour (the attack that unmasked a client at the old default t = 3) now gets fewer than t shares of one secret in every split', async () => {
    const { seed, key } = await splitView(1);
    expect(Math.min(seed, key)).toBeLessThan(4);
  });

  it('the count has power: t colluding neighbours hold both secrets', async () => {
    const { seed, key } = await splitView(4);
    expect(Math.min(seed, key)).toBeGreaterThanOrEqual(4);
  });
});
