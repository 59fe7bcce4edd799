import { describe, expect, it } from 'vitest';
import type { SecAggTamper, SecureTrainTask } from '../../server/round/secagg-protocol.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { SecAggClientMessage } from '../../shared/secagg/index.js';
import { nextRounds } from './helpers.js';
import {
  secureSuite,
  startSecureClient,
  startSecureCoordinator,
  weightsOf,
  type SecureCoordinator,
  type SecureTestClient,
} from './secagg-helpers.js';

/**
 * The attacks a malicious coordinator or client can mount on secure aggregation, each played
 * against the real NodeClient over socket.io: every one must be refused, with the model unchanged
 * and the victim's update never sent in the clear. Six clients: k = 5, t = 4.
 */

const N = 6;

const suite = secureSuite();

async function coordinator(
  rounds: number,
  options: { tamper?: SecAggTamper; secure?: boolean } = {},
): Promise<SecureCoordinator> {
  const running = await startSecureCoordinator(
    suite.dataDir(),
    suite.model(),
    N,
    {
      rounds: { start: rounds, selectionWindowMs: 0, trainingTimeoutMs: 12_000 },
      secureAggregation: { enabled: options.secure ?? true, phaseTimeoutMs: 2_000 },
    },
    options.tamper ? { secAggTamper: options.tamper } : {},
  );
  suite.defer(() => running.close());
  return running;
}

/** N clients; `sent` collects every secure-aggregation message each one sent, after `outbound` rewrote it. */
function clients(
  url: string,
  extra: (i: number) => Parameters<typeof startSecureClient>[3] = () => ({}),
): { cs: SecureTestClient[]; sent: Map<string, SecAggClientMessage[]> } {
  const sent = new Map<string, SecAggClientMessage[]>();
  const cs = Array.from({ length: N }, (_, i) => {
    const name = `c${i}`;
    const own = extra(i) ?? {};
    const c = startSecureClient(url, i, name, {
      ...own,
      secAggOutbound: (message) => {
        const out = own.secAggOutbound ? own.secAggOutbound(message) : message;
        sent.set(name, [...(sent.get(name) ?? []), out]);
        return out;
      },
    });
    suite.defer(() => c.stop());
    return c;
  });
  return { cs, sent };
}

async function expectModelUnchanged(server: SecureCoordinator, record: RoundRecord): Promise<void> {
  expect(record.status).toBe('failed');
  expect(server.coordinator.currentVersion).toBe(record.baseVersion);
}

function withoutSecureAggregation(task: SecureTrainTask): SecureTrainTask {
  const { secureAggregation: _dropped, ...plaintext } = task.body;
  return { ...task, body: plaintext };
}

describe('a malicious coordinator', () => {
  it('downgrade: after a secure round, a task without secure aggregation is refused and nothing is sent', async () => {
    const tamper: SecAggTamper = {
      task: (_to, task) => (task.body.round === 2 ? withoutSecureAggregation(task) : task),
    };
    const server = await coordinator(2, { tamper });
    const done = nextRounds(server, 2);
    const { cs } = clients(server.url);
    const [secure, downgraded] = await done;
    expect(secure.status, secure.reason).toBe('committed');
    await expectModelUnchanged(server, downgraded);
    for (const c of cs) {
      expect(c.lines).toContain(
        'round 2: refusing the task and sending nothing: it asks for a plaintext update after this coordinator ran secure rounds with us (downgrade refused)',
      );
      expect(c.outcomes.map((o) => o.round)).toEqual([1]);
    }
    // No plaintext update reached the coordinator (it would have logged refusing it in a secure round).
    expect(server.logs.filter((l) => l.includes('refused update'))).toEqual([]);
  });

  it('downgrade by policy: a client started with --require-secure-aggregation refuses a plaintext coordinator from the first task', async () => {
    const server = await coordinator(1, { secure: false });
    const done = nextRounds(server, 1);
    const { cs } = clients(server.url, () => ({ policy: { requireSecureAggregation: true } }));
    const [record] = await done;
    await expectModelUnchanged(server, record);
    expect(record.contributions).toEqual([]);
    for (const c of cs)
      expect(c.lines).toContain(
        'round 1: refusing the task and sending nothing: it asks for a plaintext update, and this client requires secure aggregation',
      );
  });

  it('model inconsistency: another model for the victim than for its neighbours is caught by the task digests', async () => {
    // The victim trains on the real weights; everyone else on zeros, so the sum would be dominated by the victim alone.
    const tamper: SecAggTamper = {
      task: (to, task) => (to === 'c0' ? task : { ...task, weights: new Float32Array(task.weights.length) }),
    };
    const server = await coordinator(1, { tamper });
    const done = nextRounds(server, 1);
    const { cs, sent } = clients(server.url);
    const [record] = await done;
    await expectModelUnchanged(server, record);
    // c0's neighbours are everyone: each side refuses the other's keys before sharing anything.
    expect(cs[0].lines.join('\n')).toMatch(
      /neighbour 'c\d' was given another model or round configuration than we were \(task digests differ\)/,
    );
    for (const c of cs.slice(1))
      expect(c.lines.join('\n')).toMatch(/neighbour 'c0' was given another model or round configuration than we were/);
    for (const messages of sent.values()) expect(messages.map((m) => m.type)).not.toContain('secagg/masked-input');
  });

  it('model inconsistency (Pasquini et al.): a vanishing learning rate for everyone but the victim is refused as insane', async () => {
    const tamper: SecAggTamper = {
      task: (to, task) =>
        to === 'c0' ? task : { ...task, body: { ...task.body, config: { ...task.body.config, learningRate: 1e-30 } } },
    };
    const server = await coordinator(1, { tamper });
    const done = nextRounds(server, 1);
    const { cs, sent } = clients(server.url);
    const [record] = await done;
    await expectModelUnchanged(server, record);
    for (const c of cs.slice(1))
      expect(c.lines).toContain(
        'round 1: refusing the task and sending nothing: its learning rate 1e-30 is outside the sane range [0.000001, 10]',
      );
    // The victim advertised, found too few neighbours, and never sent its masked update.
    expect(sent.get('c0')!.map((m) => m.type)).not.toContain('secagg/masked-input');
  });

  it('a threshold below the floor (t <= k/2, or 2t - k < 2) is refused by every client', async () => {
    const tamper: SecAggTamper = { setup: (_to, setup) => ({ ...setup, threshold: 2 }) };
    const server = await coordinator(1, { tamper });
    const done = nextRounds(server, 1);
    const { cs, sent } = clients(server.url);
    const [record] = await done;
    await expectModelUnchanged(server, record);
    for (const c of cs)
      expect(c.lines.join('\n')).toContain('its secure-aggregation threshold 2 is below the floor 4 for k = 5');
    for (const messages of sent.values()) expect(messages).toEqual([]);
  });

  it('split view of the survivors: neighbours shown another survivor list than they signed reveal nothing of the victim', async () => {
    // c1 and c2 are told the victim c0 dropped; the rest that it survived.
    const tamper: SecAggTamper = {
      message: (to, m) =>
        m.type === 'secagg/consistency-request' && (to === 'c1' || to === 'c2')
          ? { ...m, survivors: m.survivors.filter((s) => s !== 'c0') }
          : m,
    };
    const server = await coordinator(1, { tamper });
    const done = nextRounds(server, 1);
    const { sent } = clients(server.url);
    const [record] = await done;
    expect(record.status).toBe('failed');
    let maskingKeyShares = 0;
    for (const messages of sent.values()) {
      for (const m of messages)
        if (m.type === 'secagg/unmask') maskingKeyShares += m.maskingKeyShares.filter((s) => s.of === 'c0').length;
    }
    expect(maskingKeyShares).toBe(0);
  });
});

describe('a malicious client', () => {
  function rewriteUnmask(message: SecAggClientMessage): SecAggClientMessage {
    if (message.type !== 'secagg/unmask') return message;
    // Every share forged: c5's own seed needs only t of its five holders, so one forged share could go unused.
    const forge = (share: Uint8Array) => {
      const forged = share.slice();
      forged[0] ^= 1;
      return forged;
    };
    return { ...message, selfMaskShares: message.selfMaskShares.map((s) => ({ ...s, share: forge(s.share) })) };
  }

  it('a forged self-mask share is caught by the seed commitment and its sender named; the model is unchanged', async () => {
    const server = await coordinator(1);
    const done = nextRounds(server, 1);
    // c5 leaves before unmasking, so every other secret needs all four remaining holders' shares, c3's forged one included.
    const { cs } = clients(server.url, (i) =>
      i === 3
        ? { secAggOutbound: rewriteUnmask }
        : i === 5
          ? {
              secAggBeforeSend: (stage) => {
                if (stage === 'unmask') cs[5].client.stop();
              },
            }
          : {},
    );
    const [record] = await done;
    await expectModelUnchanged(server, record);
    expect(record.reason).toMatch(/'c3' revealed a share of the self-mask seed of 'c\d' that 'c\d' never committed to/);
    expect(record.secureAggregation!.culprit).toBe('c3');
  });

  function addToWord(index: (words: number) => number, amount: number) {
    return (message: SecAggClientMessage): SecAggClientMessage => {
      if (message.type !== 'secagg/masked-input') return message;
      const masked = message.masked.slice();
      const words = new Uint32Array(masked.buffer, masked.byteOffset, masked.length / 4);
      const i = index(words.length);
      words[i] = (words[i] + amount) >>> 0;
      return { ...message, masked };
    };
  }

  it.each([
    [
      'adds 2^30 to one masked word',
      addToWord(() => 5, 2 ** 30),
      /coordinate 5 of the mean is .*, outside the clip range \+-1/,
    ],
    [
      'wraps its weight word',
      addToWord((m) => m - 1, 2 ** 31),
      /the total weight \d+ is outside \[6, 60000\] for 6 survivors/,
    ],
  ])(
    'a client that %s is caught by the range check: the round fails and the model is unchanged',
    async (_, outbound, reason) => {
      const server = await coordinator(1);
      const done = nextRounds(server, 1);
      clients(server.url, (i) => (i === 2 ? { secAggOutbound: outbound } : {}));
      const [record] = await done;
      await expectModelUnchanged(server, record);
      expect(record.reason).toMatch(reason);
      const [before, now] = await Promise.all([
        weightsOf(server.url, 0),
        weightsOf(server.url, server.coordinator.currentVersion),
      ]);
      expect(now).toEqual(before);
    },
  );
});
