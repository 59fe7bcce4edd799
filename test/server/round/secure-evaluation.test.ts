import { describe, expect, it } from 'vitest';
import { sumConfusions, type ConfusionMatrix } from '../../../shared/aggregation/class-metrics.js';
import { encodeEvaluation, secureEvaluationEncoding } from '../../../shared/aggregation/secure-evaluation.js';
import { evaluationTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  generateIdentity,
  SecAggClient,
  type IdentityKeyPair,
  type SecAggClientMessage,
  type SecAggServerMessage,
} from '../../../shared/secagg/index.js';
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

/** Runs the session's stages with real SecAggClients, as the round runtime would; `refuse` sends a refusal instead of taking part. */
async function runSession(ids: readonly string[], refuse: ReadonlySet<string>) {
  const keys = identities(ids);
  const s = session(ids, keys);
  const opened = s.begin(3, WEIGHTS, 5000);
  const clients = new Map<string, SecAggClient>();
  const answer = async (to: string, message: SecAggServerMessage): Promise<SecAggClientMessage | undefined> => {
    const c = clients.get(to)!;
    switch (message.type) {
      case 'secagg/peer-keys':
        return c.shareKeys(message);
      case 'secagg/routed-shares': {
        const e = { confusion: matrix(ids.indexOf(to)), numExamples: 0, loss: 0.25 * (ids.indexOf(to) + 1) };
        e.numExamples = e.confusion.flat().reduce((a, b) => a + b, 0);
        const enc = secureEvaluationEncoding(ids.length, CLASSES);
        return c.maskInput(message, { delta: encodeEvaluation(e, enc), numExamples: e.numExamples });
      }
      case 'secagg/consistency-request':
        return c.consistency(message);
      case 'secagg/unmask-request':
        return c.unmask(message);
      default:
        throw new Error(`unexpected ${JSON.stringify(message)}`);
    }
  };
  for (const m of opened) {
    if (m.event !== 'secure-evaluate') throw new Error(`unexpected ${m.event}`);
    if (refuse.has(m.to)) {
      const refusal = { type: 'secagg/refusal' as const, round: 7, reason: 'this client holds no held-out data' };
      expect(s.receive(m.to, refusal)).toEqual({ ok: true });
      continue;
    }
    const c = new SecAggClient({
      id: m.to,
      identity: keys.get(m.to)!,
      setup: m.body.secureAggregation.setup,
      digest: evaluationTaskDigest(m.body, m.weights),
    });
    clients.set(m.to, c);
    expect(s.receive(m.to, await c.advertise())).toEqual({ ok: true });
  }
  expect(s.ready()).toBe(true);
  let out: SecureEvaluationOutbound[] = await s.closeStage();
  while (out.length > 0) {
    for (const m of out) {
      if (m.event !== 'secagg-evaluation') throw new Error(`unexpected ${m.event}`);
      const reply = await answer(m.to, m.body);
      if (reply) expect(s.receive(m.to, reply)).toEqual({ ok: true });
    }
    out = await s.closeStage();
  }
  return s;
}

describe('SecureEvaluationSession', () => {
  it('sums 5 evaluators (one refusing to take part) through real SecAgg+ clients: the record holds sums and ids only', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const s = await runSession(ids, new Set(['c']));
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
        dropouts: [{ clientId: 'c', stage: 'advertise-keys', reason: 'this client holds no held-out data' }],
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
    const unregistered = session(['a', 'b', 'z'], keys);
    expect(unregistered.begin(3, WEIGHTS, 1000)).toEqual([]);
    expect(unregistered.settled()).toBe(true);
    expect(unregistered.result(100).secure!.aborted).toBe(
      'secure evaluation of round 7: no identity key is registered for z',
    );
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

  it('a session that runs out of time records where it stopped and whom it waited for', () => {
    const s = session(['a', 'b', 'c']);
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
});
