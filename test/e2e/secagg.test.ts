import { io, type Socket } from 'socket.io-client';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import type { SecAggTamper } from '../../server/round/secagg-protocol.js';
import { decodeEnvelope } from '../../shared/protocol/envelope.js';
import { PROTOCOL_VERSION, type Ack } from '../../shared/protocol/messages.js';
import { EVENTS } from '../../shared/protocol/events.js';
import { identityKeyToText, SECURE_STAGES } from '../../shared/protocol/secagg-messages.js';
import { encodeWeights } from '../../shared/protocol/weights-codec.js';
import { generateIdentity } from '../../shared/secagg/index.js';
import { ADMIN_TOKEN, JOIN_TOKEN, nextRounds } from './helpers.js';
import {
  expectCommittedDelta,
  plaintextFedAvg,
  secureSuite,
  startSecureClient,
  startSecureCoordinator,
  type SecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * Secure aggregation in live rounds: real coordinator, real NodeClients, socket.io on 127.0.0.1.
 */

const M = 7850;
const CLIP = 1;
const MAX_WEIGHT = 10_000;

const suite = secureSuite();
async function coordinator(
  clients: number,
  ...rest: Parameters<typeof startSecureCoordinator> extends [unknown, unknown, unknown, ...infer R] ? R : never
): Promise<SecureCoordinator> {
  const running = await startSecureCoordinator(suite.dataDir(), suite.model(), clients, ...rest);
  suite.defer(() => running.close());
  return running;
}

function clients(
  url: string,
  n: number,
  extra: (i: number) => Parameters<typeof startSecureClient>[3] = () => ({}),
): SecureTestClient[] {
  return Array.from({ length: n }, (_, i) => {
    const c = startSecureClient(url, i, `c${i}`, extra(i));
    suite.defer(() => c.stop());
    return c;
  });
}

describe('secure aggregation over socket.io', () => {
  it('4 clients: two secure rounds commit and move the model by the plaintext weighted FedAvg within the stated bound', async () => {
    const server = await coordinator(4, { rounds: { start: 2, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } });
    // What GET /v1/rounds (and the live feed, on the same 'changed' events) shows of the running round.
    const shown: string[] = [];
    server.coordinator.on('changed', () => {
      const running = server.coordinator.rounds().rounds.at(-1);
      const phase = running && running.status === 'training' ? `${running.round}:${running.stage}` : undefined;
      if (phase && shown.at(-1) !== phase) shown.push(phase);
    });
    const done = nextRounds(server, 2);
    const cs = clients(server.url, 4);
    const records = await done;
    expect(shown).toEqual([1, 2].flatMap((r) => SECURE_STAGES.map((stage) => `${r}:${stage}`)));
    for (const record of records) {
      expect(record.status, record.reason).toBe('committed');
      expect(record.secureAggregation).toMatchObject({
        k: 3,
        threshold: 3,
        clip: CLIP,
        maxWeight: MAX_WEIGHT,
        stage: 'unmask',
        dropouts: [],
      });
      expect(record.secureAggregation!.survivors).toEqual(['c0', 'c1', 'c2', 'c3']);
      expect(record.contributions).toEqual(cs.map((c) => ({ clientId: c.name })));
      expect(record.numExamples).toBe(400);
      await expectCommittedDelta(server.url, record, plaintextFedAvg(cs, record.round, M, CLIP, MAX_WEIGHT));
    }
  });
});

describe('secure aggregation survives dropouts while every survivor keeps >= t live neighbours', () => {
  // n = 6 gives k = 5, t = 4: each client may lose one neighbour.
  it.each([
    ['after advertising keys (no shares sent)', 'share-keys', false],
    ['after sharing keys (no masked input): its pairwise masks are rebuilt', 'masked-input', false],
    ['during the consistency check (masked input in, no signature): its update still counts', 'consistency', true],
    ['during unmask (masked input in, no shares revealed): its update still counts', 'unmask', true],
  ] as const)('a client lost %s', async (_, stage, counts) => {
    const server = await coordinator(6, { rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } });
    const done = nextRounds(server, 1);
    const cs: SecureTestClient[] = clients(server.url, 6, (i) =>
      i === 1
        ? {
            secAggBeforeSend: (s) => {
              if (s === stage) cs[1].client.stop();
            },
          }
        : {},
    );
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    const survivors = counts ? cs : cs.filter((_, i) => i !== 1);
    expect(record.secureAggregation!.survivors).toEqual(survivors.map((c) => c.name));
    const dropouts = record.secureAggregation!.dropouts;
    // The unmask stage closes once every secret has t shares, which may be before c1's disconnect is seen.
    if (stage === 'unmask') expect(dropouts.filter((d) => d.clientId !== 'c1' || d.stage !== 'unmask')).toEqual([]);
    else expect(dropouts).toEqual([{ clientId: 'c1', stage }]);
    expect(record.dropped).toEqual(counts ? [] : ['c1']);
    await expectCommittedDelta(server.url, record, plaintextFedAvg(survivors, record.round, M, CLIP, MAX_WEIGHT));
  });

  it('a client lost right after its masked input was accepted: its update counts', async () => {
    const server = await coordinator(6, { rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } });
    const done = nextRounds(server, 1);
    const cs: SecureTestClient[] = clients(server.url, 6);
    cs[2].client.onRound((o) => {
      if (o.accepted) cs[2].client.stop();
    });
    const [record] = await done;
    expect(record.status, record.reason).toBe('committed');
    expect(record.secureAggregation!.survivors).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
    await expectCommittedDelta(server.url, record, plaintextFedAvg(cs, record.round, M, CLIP, MAX_WEIGHT));
  });

  it('aborts cleanly when a survivor keeps fewer than t live neighbours: model unchanged, reason recorded and logged', async () => {
    const server = await coordinator(6, { rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } });
    const done = nextRounds(server, 1);
    const cs: SecureTestClient[] = clients(server.url, 6, (i) =>
      i >= 4
        ? {
            secAggBeforeSend: (s) => {
              if (s === 'share-keys') cs[i].client.stop();
            },
          }
        : {},
    );
    const [record] = await done;
    expect(record.status).toBe('failed');
    // Both advertised keys, then neither shared: c0 to c3 are left with three live neighbours each.
    expect(record.reason).toMatch(
      /^secure aggregation aborted after share keys: client 'c[0-3]' has 3 live neighbours, fewer than the threshold 4$/,
    );
    expect(record.secureAggregation!.dropouts.map((d) => [d.clientId, d.stage])).toEqual([
      ['c4', 'share-keys'],
      ['c5', 'share-keys'],
    ]);
    expect(server.coordinator.currentVersion).toBe(0);
    const list = (await (
      await fetch(`${server.url}/v1/rounds`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { currentVersion: number; rounds: { status: string; reason?: string }[] };
    expect(list.currentVersion).toBe(0);
    expect(list.rounds.at(-1)).toMatchObject({ status: 'failed', reason: record.reason });
    expect(server.logs.some((l) => l.includes(record.reason!))).toBe(true);
  });
});

describe('identities: a coordinator that swaps keys is caught by honest clients', () => {
  it('a masking key swapped in transit fails its identity signature; a roster that changes an identity key is refused', async () => {
    const forged = generateIdentity();
    const fakeKey = nacl.box.keyPair().publicKey;
    const tamper: SecAggTamper = {
      // Round 1: everyone but c0 gets a masking key for c0 that the coordinator made.
      message: (_to, m) =>
        m.type === 'secagg/peer-keys' && m.round === 1
          ? { ...m, peers: m.peers.map((p) => (p.id === 'c0' ? { ...p, maskingKey: fakeKey } : p)) }
          : m,
      // Round 2: everyone but c0 is told c0's identity key is one the coordinator holds.
      setup: (to, setup) =>
        setup.round === 2 && to !== 'c0'
          ? {
              ...setup,
              participants: setup.participants.map((p) =>
                p.id === 'c0' ? { ...p, identityKey: forged.publicKey } : p,
              ),
            }
          : setup,
    };
    const server = await coordinator(
      4,
      { rounds: { start: 2, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } },
      { secAggTamper: tamper },
    );
    const done = nextRounds(server, 2);
    const cs = clients(server.url, 4);
    const [swappedKey, swappedIdentity] = await done;

    expect(swappedKey.status).toBe('failed');
    expect(swappedKey.reason).toBe(
      "secure aggregation aborted after share keys: client 'c0' has 0 live neighbours, fewer than the threshold 3",
    );
    const signature = "the keys advertised for 'c0' fail its identity signature: tampered or not theirs";
    expect(swappedKey.secureAggregation!.dropouts).toEqual(
      ['c1', 'c2', 'c3'].map((clientId) => ({ clientId, stage: 'share-keys', reason: signature })),
    );
    for (const c of cs.slice(1))
      expect(c.lines).toContain(`round 1: refusing to go on with secure aggregation: ${signature}`);

    expect(swappedIdentity.status).toBe('failed');
    const pinned = "the identity key of 'c0' differs from the one seen in earlier rounds";
    expect(swappedIdentity.secureAggregation!.dropouts).toEqual(
      ['c1', 'c2', 'c3'].map((clientId) => ({ clientId, stage: 'advertise-keys', reason: pinned })),
    );
    expect(swappedIdentity.reason).toMatch(/^secure aggregation aborted after advertise: /);
    expect(server.coordinator.currentVersion).toBe(0);
  });
});

describe('the secure coordinator refuses what would bypass secure aggregation', () => {
  function rawSocket(url: string, auth: Record<string, unknown>): Socket {
    const socket = io(url, {
      auth: { token: JOIN_TOKEN, protocolVersion: PROTOCOL_VERSION, ...auth },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    suite.defer(async () => void socket.disconnect());
    return socket;
  }
  const joinError = (socket: Socket) =>
    new Promise<Error & { data?: { code?: string } }>((resolve) => socket.once('connect_error', resolve));

  it('a join without an identity key, or with another key than the name registered, is refused', async () => {
    const server = await coordinator(3);
    const missing = await joinError(rawSocket(server.url, { name: 'anon' }));
    expect(missing.data?.code).toBe('unauthorized');
    expect(missing.message).toMatch(/identity key/);

    const first = rawSocket(server.url, {
      name: 'bound',
      identityKey: identityKeyToText(generateIdentity().publicKey),
    });
    await new Promise<void>((resolve) => first.once('connect', () => resolve()));
    first.disconnect();
    const other = await joinError(
      rawSocket(server.url, { name: 'bound', identityKey: identityKeyToText(generateIdentity().publicKey) }),
    );
    expect(other.data?.code).toBe('unauthorized');
    expect(other.message).toMatch(/^client name 'bound' is registered with another identity key/);
  });

  it('a plaintext update in a secure round is refused; a participant that never advertises aborts a 3-client round', async () => {
    const server = await coordinator(3, { rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 20_000 } });
    const done = nextRounds(server, 1);
    const raw = rawSocket(server.url, { name: 'plain', identityKey: identityKeyToText(generateIdentity().publicKey) });
    const task = new Promise<{ round: number; secureAggregation?: unknown }>((resolve) =>
      raw.once(EVENTS.train, (envelope: unknown) =>
        resolve(decodeEnvelope(envelope) as { round: number; secureAggregation?: unknown }),
      ),
    );
    clients(server.url, 2);
    const { round, secureAggregation } = await task;
    expect(secureAggregation).toBeDefined();
    const meta = { round, numExamples: 10, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 };
    const reply = (await raw.timeout(5000).emitWithAck(EVENTS.update, meta, encodeWeights(new Float32Array(M)))) as Ack;
    expect(reply).toMatchObject({ ok: false, code: 'invalid-message' });
    expect(!reply.ok && reply.message).toMatch(/uses secure aggregation/);
    const [record] = await done;
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(
      /^secure aggregation aborted after advertise: client 'c[01]' has 1 live neighbours, fewer than the threshold 2$/,
    );
    expect(record.secureAggregation!.dropouts).toEqual([{ clientId: 'plain', stage: 'advertise-keys' }]);
  });
});
