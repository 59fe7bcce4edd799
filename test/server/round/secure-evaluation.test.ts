import { describe, expect, it, vi } from 'vitest';
import { sumConfusions, type ConfusionMatrix } from '../../../shared/aggregation/class-metrics.js';
import { encodeEvaluation, secureEvaluationEncoding } from '../../../shared/aggregation/secure-evaluation.js';
import { evaluationTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  generateIdentity,
  SecAggClient,
  type IdentityKeyPair,
  SecAggServer,
  type SecAggClientMessage,
  type SecAggServerMessage,
} from '../../../shared/secagg/index.js';
import type { SecureStage } from '../../../shared/protocol/secagg-messages.js';
import { evaluatorLeft, receiveSecureEvaluation } from '../../../server/round/evaluate-on-clients.js';
import { SecureEvaluationSession, type SecureEvaluationOutbound } from '../../../server/round/secure-evaluation.js';

const CLASSES = 3;
const WEIGHTS = new Float32Array([0.5, -1, 2]);

function identities(ids: readonly string[]): Map<string, IdentityKeyPair> {
  return new Map(ids.map((id) => [id, generateIdentity()]));
}

function session(ids: readonly string[], keys = identities(ids), downgrade?: (id: string) => boolean) {
  return new SecureEvaluationSession(
    7,
    ids,
    CLASSES,
    { identityOf: (id) => keys.get(id)?.publicKey, phaseTimeoutMs: 1000, ...(downgrade ? { downgrade } : {}) },
    100,
  );
}

const matrix = (i: number): ConfusionMatrix => [
  [5 + i, 1, 0],
  [0, 4, i],
  [2, 0, 3 + 2 * i],
];

/** What a client does at one stage instead of answering: refuse, stay silent until the deadline, or disconnect. */
type Misstep = 'refuse' | 'vanish' | 'leave';

interface Plan {
  /** Client id -> the stage where it stops, and how. */
  stops?: ReadonlyMap<string, [SecureStage, Misstep]>;
  /** Stop answering a stage as soon as the session is ready (the unmask stage needs only enough shares). */
  eager?: boolean;
  /** A client's vector in place of its encoded evaluation. */
  delta?: (id: string) => Float32Array | undefined;
}

const refusal = (reason: string) => ({ type: 'secagg/refusal' as const, round: 7, reason });

/** Runs the session's stages with real SecAggClients, as the round runtime would, closing each stage when ready() or (for a silent client) at its deadline. */
async function runSession(ids: readonly string[], plan: Plan = {}) {
  const keys = identities(ids);
  const s = session(ids, keys);
  const opened = s.begin(3, WEIGHTS, 5000);
  const clients = new Map<string, SecAggClient>();
  const enc = secureEvaluationEncoding(ids.length, CLASSES);
  const answer = async (to: string, message: SecAggServerMessage): Promise<SecAggClientMessage> => {
    const c = clients.get(to)!;
    switch (message.type) {
      case 'secagg/peer-keys':
        return c.shareKeys(message);
      case 'secagg/routed-shares': {
        const e = { confusion: matrix(ids.indexOf(to)), numExamples: 0, loss: 0.25 * (ids.indexOf(to) + 1) };
        e.numExamples = e.confusion.flat().reduce((a, b) => a + b, 0);
        const delta = plan.delta?.(to) ?? encodeEvaluation(e, enc);
        return c.maskInput(message, { delta, numExamples: e.numExamples });
      }
      case 'secagg/consistency-request':
        return c.consistency(message);
      case 'secagg/unmask-request':
        return c.unmask(message);
      default:
        throw new Error(`unexpected ${JSON.stringify(message)}`);
    }
  };
  /** Plays one client's turn at the current stage. */
  const turn = async (to: string, reply: () => Promise<SecAggClientMessage>) => {
    const stop = plan.stops?.get(to);
    if (stop?.[0] === s.stage) {
      if (stop[1] === 'refuse') expect(s.receive(to, refusal(`${to} refuses at ${s.stage}`))).toEqual({ ok: true });
      if (stop[1] === 'leave') s.drop(to);
      return;
    }
    expect(s.receive(to, await reply())).toEqual({ ok: true });
  };
  for (const m of opened) {
    if (m.event !== 'secure-evaluate') throw new Error(`unexpected ${m.event}`);
    const c = new SecAggClient({
      id: m.to,
      identity: keys.get(m.to)!,
      setup: m.body.secureAggregation.setup,
      digest: evaluationTaskDigest(m.body, m.weights),
    });
    clients.set(m.to, c);
    await turn(m.to, () => c.advertise());
  }
  let out: SecureEvaluationOutbound[] = await s.closeStage();
  while (out.length > 0) {
    for (const m of out) {
      if (m.event !== 'secagg-evaluation') throw new Error(`unexpected ${m.event}`);
      if (plan.eager && s.ready()) break;
      await turn(m.to, () => answer(m.to, m.body));
    }
    out = await s.closeStage();
  }
  return s;
}

describe('SecureEvaluationSession', () => {
  it('sums 5 evaluators (one refusing to take part) through real SecAgg+ clients: the record holds sums and ids only', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const s = await runSession(ids, { stops: new Map([['c', ['advertise-keys', 'refuse']]]) });
    expect(s.settled()).toBe(true);
    expect(s.failure()).toBeUndefined();
    const result = s.result(350);
    const survivors = ['a', 'b', 'd', 'e'];
    const confusion = sumConfusions(survivors.map((id) => matrix(ids.indexOf(id))));
    const n = confusion.flat().reduce((a, b) => a + b, 0);
    expect(result).toMatchObject({
      selected: ids,
      reported: survivors,
      declined: [],
      missing: ['c'],
      confusion,
      numExamples: n,
      accuracy: (confusion[0][0] + confusion[1][1] + confusion[2][2]) / n,
      durationMs: 250,
      secure: {
        stage: 'unmask',
        dropouts: [{ clientId: 'c', stage: 'advertise-keys', reason: 'c refuses at advertise-keys' }],
      },
    });
    const loss =
      survivors.reduce((a, id) => {
        const i = ids.indexOf(id);
        return (
          a +
          0.25 *
            (i + 1) *
            matrix(i)
              .flat()
              .reduce((x, y) => x + y, 0)
        );
      }, 0) / n;
    expect(Math.abs(result.loss! - loss)).toBeLessThanOrEqual(result.secure!.lossErrorBound!);
  });

  it('does not start without every evaluator registered or with fewer than 3: nothing sent, the reason recorded', () => {
    const keys = identities(['a', 'b']);
    const unregistered = session(['a', 'y', 'b', 'z'], keys);
    expect(unregistered.begin(3, WEIGHTS, 1000)).toEqual([]);
    expect(unregistered.settled()).toBe(true);
    expect(unregistered.result(100).secure).toEqual({
      stage: 'advertise-keys',
      dropouts: [],
      aborted: 'secure evaluation of round 7: no identity key is registered for y, z',
    });
    const tooFew = session(['a', 'b'], keys);
    expect(tooFew.begin(3, WEIGHTS, 1000)).toEqual([]);
    expect(tooFew.failure()).toMatch(/^secure evaluation of round 7: it cannot run with 2 evaluators: .*at least 3/);
    expect(tooFew.result(100)).toMatchObject({ reported: [], missing: ['a', 'b'], numExamples: 0 });
  });

  it('refuses stage messages when no session runs, or from a client that is not in it', () => {
    const refusal = { type: 'secagg/refusal' as const, round: 7, reason: 'x' };
    expect(receiveSecureEvaluation(undefined, 'a', refusal)).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'no secure evaluation is running (message is for round 7)',
    });
    const s = session(['a', 'b', 'c']);
    s.begin(3, WEIGHTS, 1000);
    let pokes = 0;
    const run = {
      secureEvaluation: {
        session: s,
        poke: () => {
          pokes++;
        },
        finish: () => undefined,
      },
    };
    expect(receiveSecureEvaluation(run, 'z', refusal)).toMatchObject({ ok: false, code: 'invalid-message' });
    expect(s.ready()).toBe(false);
    evaluatorLeft(run, 'a');
    expect(receiveSecureEvaluation(run, 'b', refusal)).toEqual({ ok: true });
    expect(s.ready()).toBe(false);
    expect(receiveSecureEvaluation(run, 'c', refusal)).toEqual({ ok: true });
    // a left, b and c refused: the stage waits for nobody.
    expect(s.ready()).toBe(true);
    expect(pokes).toBe(4);
  });

  it('a session that runs out of time records where it stopped and whom it waited for (sorted)', () => {
    const s = session(['c', 'a', 'b']);
    s.begin(3, WEIGHTS, 1000);
    s.expire();
    expect(s.failure()).toBe('it did not finish in time (stage advertise-keys, waiting for a, b, c)');
    expect(s.receive('a', { type: 'secagg/refusal', round: 7, reason: 'late' })).toMatchObject({
      ok: false,
      code: 'stale-round',
    });
  });

  it('a downgrading coordinator (tests only) sends those clients a plaintext request, the others the secure one', () => {
    const out = session(['a', 'b', 'c'], undefined, (id) => id === 'b').begin(3, WEIGHTS, 1000);
    expect(out.map((m) => [m.to, m.event])).toEqual([
      ['a', 'secure-evaluate'],
      ['b', 'evaluate'],
      ['c', 'secure-evaluate'],
    ]);
    expect(out[1].body).toEqual({ round: 7, version: 3, timeoutMs: 1000 });
  });

  it('records each dropout once at its stage, sorted by stage then id: refusals with their reason, the silent and the disconnected without; live clients the unmask did not need are not dropouts', async () => {
    const ids = ['n', 'm', 'l', 'k', 'j', 'i', 'h', 'g', 'f', 'e', 'd', 'c', 'b', 'a'];
    const s = await runSession(ids, {
      eager: true,
      stops: new Map<string, [SecureStage, Misstep]>([
        ['n', ['unmask', 'refuse']],
        ['m', ['unmask', 'leave']],
        ['g', ['advertise-keys', 'refuse']],
        ['a', ['masked-input', 'vanish']],
      ]),
    });
    expect(s.failure()).toBeUndefined();
    const result = s.result(500);
    const survivors = ['b', 'c', 'd', 'e', 'f', 'h', 'i', 'j', 'k', 'l', 'm', 'n'];
    expect(result).toMatchObject({
      selected: ids,
      reported: survivors,
      missing: ['a', 'g'],
      confusion: sumConfusions(survivors.map((id) => matrix(ids.indexOf(id)))),
    });
    expect(result.secure).toEqual({
      k: 13,
      threshold: 8,
      stage: 'unmask',
      dropouts: [
        { clientId: 'g', stage: 'advertise-keys', reason: 'g refuses at advertise-keys' },
        { clientId: 'a', stage: 'masked-input' },
        { clientId: 'm', stage: 'unmask' },
        { clientId: 'n', stage: 'unmask', reason: 'n refuses at unmask' },
      ],
      lossErrorBound: result.secure!.lossErrorBound,
    });
    expect(result.secure!.lossErrorBound).toBeGreaterThan(0);
  });

  it('an aborted session records the reason, the stage it stopped in and its dropouts sorted by id, and no sums', async () => {
    const s = await runSession(['e', 'd', 'c', 'b', 'a'], {
      stops: new Map<string, [SecureStage, Misstep]>([
        ['a', ['advertise-keys', 'refuse']],
        ['c', ['advertise-keys', 'leave']],
        ['b', ['advertise-keys', 'vanish']],
      ]),
    });
    const reason = "after advertise: client 'e' has 1 live neighbours, fewer than the threshold 3";
    expect(s.failure()).toBe(reason);
    expect(s.stage).toBe('advertise-keys');
    expect(s.ready()).toBe(false);
    expect(await s.closeStage()).toEqual([]);
    expect(s.failure()).toBe(reason);
    expect(s.result(400)).toEqual({
      selected: ['e', 'd', 'c', 'b', 'a'],
      reported: [],
      declined: [],
      missing: ['a', 'b', 'c', 'd', 'e'],
      numExamples: 0,
      durationMs: 300,
      secure: {
        k: 4,
        threshold: 3,
        stage: 'advertise-keys',
        dropouts: [
          // Recorded as a (refused on arrival), then c and b at the deadline.
          { clientId: 'a', stage: 'advertise-keys', reason: 'a refuses at advertise-keys' },
          { clientId: 'b', stage: 'advertise-keys' },
          { clientId: 'c', stage: 'advertise-keys' },
        ],
        aborted: reason,
      },
    });
  });

  it('a sum it cannot decode ends the session without figures, keeping the dropouts', async () => {
    const s = await runSession(['a', 'b', 'c', 'd', 'e'], {
      stops: new Map<string, [SecureStage, Misstep]>([['e', ['masked-input', 'vanish']]]),
      delta: () => new Float32Array(CLASSES * CLASSES + 1),
    });
    expect(s.failure()).toBe('the secure evaluation sum counts no examples');
    expect(s.result(100)).toMatchObject({
      reported: [],
      numExamples: 0,
      secure: {
        stage: 'unmask',
        dropouts: [{ clientId: 'e', stage: 'masked-input' }],
        aborted: 'the secure evaluation sum counts no examples',
      },
    });
    expect(s.result(100)).not.toHaveProperty('loss');
  });

  it('a stage that fails to close aborts the session with the stage named', async () => {
    const s = session(['a', 'b', 'c']);
    s.begin(3, WEIGHTS, 1000);
    const close = vi.spyOn(SecAggServer.prototype, 'close').mockRejectedValueOnce(new Error('out of memory'));
    try {
      expect(await s.closeStage()).toEqual([]);
    } finally {
      close.mockRestore();
    }
    expect(s.failure()).toBe('closing stage advertise-keys failed: out of memory');
    expect(s.result(100).secure).toEqual({
      k: 2,
      threshold: 2,
      stage: 'advertise-keys',
      dropouts: [],
      aborted: 'closing stage advertise-keys failed: out of memory',
    });
  });

  it('a finished session stays finished: no more stages, messages, expiry or readiness', async () => {
    const s = await runSession(['a', 'b', 'c']);
    const before = s.result(100);
    expect(s.settled()).toBe(true);
    expect(s.ready()).toBe(false);
    expect(await s.closeStage()).toEqual([]);
    s.expire();
    expect(s.failure()).toBeUndefined();
    expect(s.receive('a', refusal('late'))).toEqual({
      ok: false,
      code: 'stale-round',
      message: "the secure evaluation of round 7 is over; 'secagg/refusal' is not needed",
    });
    expect(s.result(100)).toEqual(before);
  });

  it('before it begins nothing is ready, closed or failed; expiring then records only the stage', async () => {
    const s = session(['a', 'b', 'c']);
    expect(s.settled()).toBe(false);
    expect(s.failure()).toBeUndefined();
    expect(s.ready()).toBe(false);
    expect(s.stage).toBe('advertise-keys');
    expect(s.result(100)).toEqual({
      selected: ['a', 'b', 'c'],
      reported: [],
      declined: [],
      missing: ['a', 'b', 'c'],
      numExamples: 0,
      durationMs: 0,
      secure: { stage: 'advertise-keys', dropouts: [] },
    });
    expect(await s.closeStage()).toEqual([]);
    s.expire();
    expect(s.failure()).toBe('it did not finish in time (stage advertise-keys)');
    expect(s.result(100).secure).toEqual({
      stage: 'advertise-keys',
      dropouts: [],
      aborted: 'it did not finish in time (stage advertise-keys)',
    });
  });

  it('a client that answered and then disconnected gets no more stage messages', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const keys = identities(ids);
    const s = session(ids, keys);
    for (const m of s.begin(3, WEIGHTS, 1000)) {
      if (m.event !== 'secure-evaluate') throw new Error(`unexpected ${m.event}`);
      const c = new SecAggClient({
        id: m.to,
        identity: keys.get(m.to)!,
        setup: m.body.secureAggregation.setup,
        digest: evaluationTaskDigest(m.body, m.weights),
      });
      expect(s.receive(m.to, await c.advertise())).toEqual({ ok: true });
    }
    s.drop('b');
    s.drop('z');
    const out = await s.closeStage();
    expect(s.stage).toBe('share-keys');
    expect(out.map((m) => [m.event, m.to])).toEqual([
      ['secagg-evaluation', 'a'],
      ['secagg-evaluation', 'c'],
      ['secagg-evaluation', 'd'],
    ]);
    // b is still awaited by the SecAgg+ server but gone: the stage waits only for a, c and d.
    expect(s.ready()).toBe(false);
  });

  it('a malformed message that is not a protocol error is not swallowed', () => {
    const s = session(['a', 'b', 'c']);
    s.begin(3, WEIGHTS, 1000);
    const broken = { type: 'secagg/advertise-keys', round: 7 } as unknown as SecAggClientMessage;
    expect(() => s.receive('a', broken)).toThrow(TypeError);
  });
});
