import { describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../client/node-client.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { SECURE_STAGES, type SecureStage } from '../../shared/protocol/secagg-messages.js';
import { nextRounds } from './helpers.js';
import {
  expectCommittedDelta,
  plaintextFedAvg,
  secureSuite,
  startSecureClient,
  startSecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * Secure aggregation beyond a handful of clients, over socket.io on 127.0.0.1 with real
 * NodeClients: every message with per-client byte fields (the roster's identity keys, peer keys,
 * shares) travels as one envelope, so socket.io's limit of 10 attachments per packet no longer
 * caps the federation. k and the threshold are the coordinator's defaults for n, read back from
 * the round record; stages are those of SECURE_STAGES, whatever they are.
 */

const M = 7850;
const CLIP = 1;
/** Every client holds one 100-digit MNIST shard. */
const EXAMPLES_PER_CLIENT = 100;

const suite = secureSuite();

/** Runs one secure round with `n` clients; `extra(i, all)` adds hooks to client i. */
async function secureRound(
  n: number,
  extra: (i: number, all: () => SecureTestClient[]) => Partial<ClientOptions> = () => ({}),
): Promise<{ url: string; record: RoundRecord; cs: SecureTestClient[] }> {
  const server = await startSecureCoordinator(suite.dataDir(), suite.model(), n, {
    rounds: { start: 1, selectionWindowMs: 0, trainingTimeoutMs: 120_000 },
    // The weight cap at the clients' example count: the error bound grows with n * cap, and stays under 1e-6 at n = 100.
    // All n clients share this process: a stage's work for 100 of them takes seconds here, not on n machines.
    secureAggregation: { maxWeight: EXAMPLES_PER_CLIENT, phaseTimeoutMs: 20_000 },
  });
  suite.defer(() => server.close());
  const done = nextRounds(server, 1);
  const cs: SecureTestClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = startSecureClient(
      server.url,
      i,
      `c${i}`,
      extra(i, () => cs),
    );
    suite.defer(() => c.stop());
    cs.push(c);
  }
  const [record] = await done;
  return { url: server.url, record, cs };
}

/**
 * Stops the client right before it sends its message of `stage`: a client sends one message per
 * stage, in stage order, so that is its message number SECURE_STAGES.indexOf(stage) of the round.
 */
function dropBefore(stage: SecureStage, self: () => SecureTestClient): Partial<ClientOptions> {
  const index = SECURE_STAGES.indexOf(stage);
  let sent = 0;
  return {
    secAggBeforeSend: () => {
      if (sent++ === index) self().client.stop();
    },
  };
}

/** Whether a client that left at `stage` had its masked input in the sum already. */
const afterMaskedInput = (stage: SecureStage) => SECURE_STAGES.indexOf(stage) > SECURE_STAGES.indexOf('masked-input');

/**
 * Checks the round committed with `dropped` (client -> stage left) out as the protocol says: a
 * client that left before its masked input is recorded at that stage and left out of the sum;
 * one that left later still counts (the last stages close once enough shares are in, so its
 * departure may go unrecorded). The model moved by the plaintext FedAvg of the sum's members.
 */
async function expectRound(
  url: string,
  record: RoundRecord,
  cs: SecureTestClient[],
  dropped: ReadonlyMap<string, SecureStage>,
): Promise<void> {
  expect(record.status, record.reason).toBe('committed');
  const secure = record.secureAggregation!;
  expect(secure.k).toBeLessThanOrEqual(cs.length - 1);
  expect(secure.threshold).toBeLessThanOrEqual(secure.k);
  expect(Object.keys(secure.stageMs)).toEqual([...SECURE_STAGES]);
  const left = (c: SecureTestClient) => dropped.has(c.name) && !afterMaskedInput(dropped.get(c.name)!);
  const inSum = cs.filter((c) => !left(c));
  const names = (list: SecureTestClient[]) => list.map((c) => c.name).sort();
  expect([...secure.survivors].sort()).toEqual(names(inSum));
  expect([...record.dropped].sort()).toEqual(names(cs.filter(left)));
  expect(record.numExamples).toBe(inSum.length * EXAMPLES_PER_CLIENT);
  const recorded = secure.dropouts.map((d) => `${d.clientId}@${d.stage}`);
  const mustRecord = [...dropped]
    .filter(([, stage]) => !afterMaskedInput(stage))
    .map(([id, stage]) => `${id}@${stage}`);
  const mayRecord = [...dropped].map(([id, stage]) => `${id}@${stage}`);
  expect(recorded).toEqual(expect.arrayContaining(mustRecord));
  for (const r of recorded) expect(mayRecord).toContain(r);
  await expectCommittedDelta(url, record, plaintextFedAvg(inSum, record.round, M, CLIP, EXAMPLES_PER_CLIENT));
}

describe('secure aggregation at scale over socket.io', () => {
  it.each([5, 10, 50, 100])(
    '%i clients: a secure round commits and moves the model by the plaintext weighted FedAvg within the stated bound',
    async (n) => {
      const { url, record, cs } = await secureRound(n);
      expect(
        record.secureAggregation!.dropouts,
        JSON.stringify(record.secureAggregation!.dropouts.slice(0, 3)),
      ).toEqual([]);
      await expectRound(url, record, cs, new Map());
    },
  );

  it.each(SECURE_STAGES.map((stage) => [stage]))(
    '10 clients: one client disconnects right before its %s message',
    async (stage) => {
      const { url, record, cs } = await secureRound(10, (i, all) => (i === 3 ? dropBefore(stage, () => all()[i]) : {}));
      await expectRound(url, record, cs, new Map([['c3', stage]]));
    },
  );

  it.each([50, 100])('%i clients: 10% disconnect, spread over every stage', async (n) => {
    const droppers = Array.from({ length: n / 10 }, (_, j) => 10 * j + 3);
    const stageOf = (i: number) => SECURE_STAGES[droppers.indexOf(i) % SECURE_STAGES.length];
    const { url, record, cs } = await secureRound(n, (i, all) =>
      droppers.includes(i) ? dropBefore(stageOf(i), () => all()[i]) : {},
    );
    await expectRound(url, record, cs, new Map(droppers.map((i) => [`c${i}`, stageOf(i)])));
  });
});
