import { describe, expect, it } from 'vitest';
import { sumConfusions, type ConfusionMatrix } from '../../../shared/aggregation/class-metrics.js';
import { encodeEvaluation, secureEvaluationEncoding } from '../../../shared/aggregation/secure-evaluation.js';
import { evaluationTaskDigest } from '../../../shared/protocol/task-policy.js';
import {
  generateIdentity,
  SecAggClient,
  type IdentityKeyPair,
  type SecAggClientMessage,
} from '../../../shared/secagg/index.js';
import type { LinkMessage } from '../../../server/client-link.js';
import {
  evaluateOnClients,
  evaluatorLeft,
  receiveReport,
  receiveSecureEvaluation,
} from '../../../server/round/evaluate-on-clients.js';
import { FederatedEvaluationRound, skippedEvaluation } from '../../../server/round/federated-evaluation.js';
import type { RoundRun } from '../../../server/round/round-run.js';
import { RoundScheduler } from '../../../server/round/scheduler.js';
import { ManualClock } from './manual-clock.js';

const report = (round: number) => ({ round, metrics: { loss: 0.4, accuracy: 0.8, numExamples: 5 }, evalMs: 2 });

/** A run waiting for `selected` to evaluate round 3; counts how often the wait was ended. */
function waiting(selected: string[]) {
  const run = {
    finished: 0,
    evaluation: {
      round: new FederatedEvaluationRound(3, selected, 0),
      finish: () => {
        run.finished++;
      },
    },
  };
  return run;
}

describe('evaluation reports and departures', () => {
  it('refuses a report when no evaluation is running', () => {
    expect(receiveReport(undefined, 'a', report(3))).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'no evaluation is running (report is for round 3)',
    });
    expect(receiveReport({ evaluation: undefined }, 'a', report(3))).toMatchObject({ ok: false, code: 'stale-round' });
  });

  it('ends the wait once every evaluator reported or left, not before', () => {
    const run = waiting(['a', 'b', 'c']);
    expect(receiveReport(run, 'a', report(3))).toEqual({ ok: true });
    evaluatorLeft(run, 'b');
    expect(run.finished).toBe(0);
    expect(receiveReport(run, 'z', report(3))).toMatchObject({ ok: false, code: 'not-selected' });
    expect(run.finished).toBe(0);
    expect(receiveReport(run, 'c', report(3))).toEqual({ ok: true });
    expect(run.finished).toBe(1);
  });
});

describe('secure federated evaluation', () => {
  it('is skipped, with the reason, when fewer than 3 evaluators are selected: nothing is sent', async () => {
    const sent: unknown[] = [];
    const run = { round: 3, scope: { active: true, send: (m: unknown) => sent.push(m) } } as unknown as RoundRun;
    const sampler = { name: 'all', minAvailable: 1, select: (ids: readonly string[]) => [...ids] };
    const evaluated = await evaluateOnClients(run, {
      version: 2,
      weights: new Float32Array(1),
      eligible: ['a', 'b'],
      options: { sampler, timeoutMs: 1000, secure: { identityOf: () => undefined, phaseTimeoutMs: 1000 } },
      quiet: false,
      numClasses: 10,
      log: () => undefined,
    });
    expect(evaluated).toEqual({
      result: skippedEvaluation('secure evaluation needs at least 3 evaluators, 2 selected'),
      declined: [],
    });
    expect(sent).toEqual([]);
  });
});

const CLASSES = 3;
const WEIGHTS = new Float32Array([0.5, -1, 2]);
const TIMEOUT = 1000;
const PHASE = 500;
const all = { name: 'all', minAvailable: 1, select: (ids: readonly string[]) => [...ids] };

const confusionOf = (i: number): ConfusionMatrix => [
  [5 + i, 1, 0],
  [0, 4, i],
  [2, 0, 3 + 2 * i],
];

/** A round-7 run on a manual clock whose sends land in `outbox`; `onSend` may answer synchronously. */
function scheduled(onSend: (m: LinkMessage, run: RoundRun) => void = () => undefined) {
  const clock = new ManualClock(1000);
  const outbox: LinkMessage[] = [];
  const scheduler = new RoundScheduler<LinkMessage>(clock, (m) => {
    outbox.push(m);
    onSend(m, run);
  });
  const scope = scheduler.open();
  const run = { round: 7, scope, evaluation: undefined, secureEvaluation: undefined } as unknown as RoundRun;
  return { clock, outbox, scope, run };
}

function secureRequest(eligible: readonly string[], keys: Map<string, IdentityKeyPair>, lines: string[]) {
  return {
    version: 3,
    weights: WEIGHTS,
    eligible,
    options: {
      sampler: all,
      timeoutMs: TIMEOUT,
      secure: { identityOf: (id: string) => keys.get(id)?.publicKey, phaseTimeoutMs: PHASE },
    },
    quiet: false,
    numClasses: CLASSES,
    log: (line: string) => lines.push(line),
  };
}

/** Real SecAgg+ clients answering the session's messages for `ids` (the i-th evaluates confusionOf(i) at loss 0.25·(i+1)). */
function evaluators(ids: readonly string[], keys: Map<string, IdentityKeyPair>) {
  const clients = new Map<string, SecAggClient>();
  return async (m: LinkMessage): Promise<SecAggClientMessage | undefined> => {
    if (m.event === 'secure-evaluate') {
      const c = new SecAggClient({
        id: m.to,
        identity: keys.get(m.to)!,
        setup: m.body.secureAggregation.setup,
        digest: evaluationTaskDigest(m.body, m.weights),
      });
      clients.set(m.to, c);
      return c.advertise();
    }
    if (m.event !== 'secagg-evaluation') throw new Error(`unexpected ${m.event}`);
    const c = clients.get(m.to)!;
    const message = m.body;
    switch (message.type) {
      case 'secagg/peer-keys':
        return c.shareKeys(message);
      case 'secagg/routed-shares': {
        const i = ids.indexOf(m.to);
        const confusion = confusionOf(i);
        const numExamples = confusion.flat().reduce((a, b) => a + b, 0);
        const delta = encodeEvaluation(
          { confusion, numExamples, loss: 0.25 * (i + 1) },
          secureEvaluationEncoding(ids.length, CLASSES),
        );
        return c.maskInput(message, { delta, numExamples });
      }
      case 'secagg/consistency-request':
        return c.consistency(message);
      case 'secagg/unmask-request':
        return c.unmask(message);
      default:
        throw new Error(`unexpected ${JSON.stringify(message)}`);
    }
  };
}

/** Delivers what the coordinator sent to `answer` (skipping `silent`) until `done` settles; false if it never did. */
async function drive(
  done: Promise<unknown>,
  outbox: LinkMessage[],
  run: RoundRun,
  answer: (m: LinkMessage) => Promise<SecAggClientMessage | undefined>,
  silent: ReadonlySet<string> = new Set(),
): Promise<boolean> {
  let settled = false;
  void done.then(() => (settled = true));
  // Bounded by wall time, not ticks: the SecAgg+ crypto runs on libuv's pool, slower on a loaded machine.
  for (const end = Date.now() + 20_000; !settled && Date.now() < end;) {
    await new Promise((r) => setImmediate(r));
    while (outbox.length > 0) {
      const m = outbox.shift()!;
      if (silent.has(m.to)) continue;
      const reply = await answer(m);
      if (reply) expect(receiveSecureEvaluation(run, m.to, reply)).toEqual({ ok: true });
    }
  }
  return settled;
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** Lets the event loop run until `sent` holds something (or a bound passes). */
const untilSent = async (sent: readonly unknown[]) => {
  for (const end = Date.now() + 20_000; sent.length === 0 && Date.now() < end;)
    await new Promise((r) => setImmediate(r));
};

describe('evaluateOnClients, plaintext', () => {
  const plain = (eligible: readonly string[], lines: string[], minAvailable = 1, quiet = false) => ({
    version: 2,
    weights: WEIGHTS,
    eligible,
    options: { sampler: { ...all, minAvailable }, timeoutMs: TIMEOUT },
    quiet,
    numClasses: CLASSES,
    log: (line: string) => lines.push(line),
  });

  it('does nothing without eligible clients or once the run stopped', async () => {
    const { run, scope, outbox } = scheduled();
    const lines: string[] = [];
    expect(await evaluateOnClients(run, plain([], lines))).toBeUndefined();
    scope.end();
    expect(await evaluateOnClients(run, plain(['a'], lines))).toBeUndefined();
    expect(outbox).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('is skipped, with the reason, when fewer clients than the sampler needs hold held-out data (exactly as many suffice)', async () => {
    const { run, outbox } = scheduled();
    const lines: string[] = [];
    expect(await evaluateOnClients(run, plain(['a', 'b'], lines, 3))).toEqual({
      result: skippedEvaluation('2 connected client(s) hold held-out data, 3 needed'),
      declined: [],
    });
    expect(outbox).toEqual([]);
    const done = evaluateOnClients(run, plain(['a', 'b'], lines, 2));
    expect(outbox.map((m) => [m.event, m.to])).toEqual([
      ['evaluate', 'a'],
      ['evaluate', 'b'],
    ]);
    evaluatorLeft(run, 'a');
    evaluatorLeft(run, 'b');
    expect((await done)!.result.missing).toEqual(['a', 'b']);
  });

  it('sends the model to every selected client and returns their weighted scores once all answered', async () => {
    const { run, outbox, scope, clock } = scheduled();
    const lines: string[] = [];
    const done = evaluateOnClients(run, plain(['a', 'b', 'c'], lines));
    expect(outbox).toEqual(
      ['a', 'b', 'c'].map((to) => ({
        event: 'evaluate',
        to,
        body: { round: 7, version: 2, timeoutMs: TIMEOUT },
        weights: WEIGHTS,
      })),
    );
    expect(lines).toEqual(['round 7: federated evaluation by 3 client(s)']);
    clock.advance(100);
    expect(receiveReport(run, 'a', report(7))).toEqual({ ok: true });
    expect(receiveReport(run, 'b', { round: 7, metrics: null, evalMs: 0 })).toEqual({ ok: true });
    expect(run.evaluation).toBeDefined();
    expect(
      receiveReport(run, 'c', { round: 7, metrics: { loss: 0.2, accuracy: 0.6, numExamples: 15 }, evalMs: 1 }),
    ).toEqual({
      ok: true,
    });
    expect(await done).toEqual({
      result: {
        selected: ['a', 'b', 'c'],
        reported: ['a', 'c'],
        declined: ['b'],
        missing: [],
        loss: (0.4 * 5 + 0.2 * 15) / 20,
        accuracy: (0.8 * 5 + 0.6 * 15) / 20,
        numExamples: 20,
        durationMs: 100,
      },
      declined: ['b'],
    });
    expect(run.evaluation).toBeUndefined();
    expect(scope.pending()).toBe(0);
  });

  it('stops waiting at the deadline, not before, and lists who did not answer; a quiet run hides the count', async () => {
    const { run, clock, scope } = scheduled();
    const lines: string[] = [];
    let ended = false;
    const done = evaluateOnClients(run, plain(['a', 'b'], lines, 1, true)).then((r) => {
      ended = true;
      return r;
    });
    expect(lines).toEqual(['round 7: federated evaluation']);
    receiveReport(run, 'a', report(7));
    clock.advance(TIMEOUT - 1);
    await settle();
    expect(ended).toBe(false);
    clock.advance(1);
    const evaluated = await done;
    expect(evaluated!.result).toMatchObject({ reported: ['a'], missing: ['b'], durationMs: TIMEOUT });
    expect(run.evaluation).toBeUndefined();
    expect(scope.pending()).toBe(0);
  });
});

describe('evaluateOnClients, secure', () => {
  it('sums 3 evaluators through real SecAgg+ clients, then clears the wait and its deadline', async () => {
    const ids = ['a', 'b', 'c'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, outbox, scope } = scheduled();
    const lines: string[] = [];
    const done = evaluateOnClients(run, secureRequest(ids, keys, lines));
    expect(run.secureEvaluation).toBeDefined();
    expect(outbox.map((m) => [m.event, m.to])).toEqual(ids.map((to) => ['secure-evaluate', to]));
    expect(await drive(done, outbox, run, evaluators(ids, keys))).toBe(true);
    const evaluated = (await done)!;
    const confusion = sumConfusions(ids.map((_, i) => confusionOf(i)));
    expect(evaluated.declined).toEqual([]);
    expect(evaluated.result).toMatchObject({
      selected: ids,
      reported: ids,
      missing: [],
      confusion,
      numExamples: confusion.flat().reduce((a, b) => a + b, 0),
      secure: { stage: 'unmask', dropouts: [] },
    });
    expect(evaluated.result.secure!.aborted).toBeUndefined();
    expect(lines).toEqual([
      'round 7: secure federated evaluation by 3 client(s)',
      'round 7: secure federated evaluation: unmasked the sums of 3 client(s)',
    ]);
    expect(run.secureEvaluation).toBeUndefined();
    expect(scope.pending()).toBe(0);
  });

  it('closes a stage early when everyone it waits for refused, without waiting for the deadline', async () => {
    const ids = ['a', 'b', 'c'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, scope } = scheduled((m, r) => {
      if (m.event === 'secure-evaluate')
        receiveSecureEvaluation(r, m.to, { type: 'secagg/refusal', round: 7, reason: 'no held-out data' });
    });
    const lines: string[] = [];
    let ended = false;
    const done = evaluateOnClients(run, secureRequest(ids, keys, lines)).then((r) => {
      ended = true;
      return r;
    });
    await settle();
    expect(ended).toBe(true);
    const evaluated = (await done)!;
    expect(evaluated.result).toMatchObject({ reported: [], missing: ids, numExamples: 0 });
    // The stage was closed (everyone refused), not given up on as out of time.
    expect(evaluated.result.secure!.aborted).toBe('after advertise: no client advertised keys');
    expect(lines[1]).toMatch(/^round 7: secure federated evaluation failed: .+/);
    expect(lines[1]).toBe(`round 7: secure federated evaluation failed: ${evaluated.result.secure!.aborted}`);
    expect(scope.pending()).toBe(0);
  });

  it('waits the evaluation timeout for the keys, then each later stage a phase timeout, not less', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, outbox, clock } = scheduled();
    const lines: string[] = [];
    let ended = false;
    const done = evaluateOnClients(run, secureRequest(ids, keys, lines)).then((r) => {
      ended = true;
      return r;
    });
    const answer = evaluators(ids, keys);
    // e holds back its keys until just before the evaluation timeout, then never answers again.
    const late = outbox.splice(4);
    await drive(Promise.resolve(), outbox, run, answer);
    await settle();
    clock.advance(TIMEOUT - 1);
    await settle();
    expect(outbox).toEqual([]);
    expect(receiveSecureEvaluation(run, 'e', (await answer(late[0]))!)).toEqual({ ok: true });
    await untilSent(outbox);
    expect(outbox.map((m) => (m.event === 'secagg-evaluation' ? [m.to, m.body.type] : [m.to, m.event]))).toEqual(
      ids.map((to) => [to, 'secagg/peer-keys']),
    );
    const quiet = new Set(['e']);
    await drive(Promise.resolve(), outbox, run, answer, quiet);
    await settle();
    expect(outbox).toEqual([]);
    clock.advance(PHASE - 1);
    await settle();
    expect(outbox).toEqual([]);
    expect(ended).toBe(false);
    clock.advance(1);
    await untilSent(outbox);
    expect(outbox.length).toBeGreaterThan(0);
    // The rest answer at once; stages wait for survivors only.
    expect(await drive(done, outbox, run, answer, quiet)).toBe(true);
    const evaluated = (await done)!;
    expect(evaluated.result).toMatchObject({ reported: ['a', 'b', 'c', 'd'], missing: ['e'] });
    expect(evaluated.result.secure!.dropouts.map((d) => d.clientId)).toEqual(['e']);
    expect(lines[1]).toBe('round 7: secure federated evaluation: unmasked the sums of 4 client(s)');
  });

  it('stops when the round is finished, recording that it did not finish in time', async () => {
    const ids = ['a', 'b', 'c'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, outbox, scope } = scheduled();
    const lines: string[] = [];
    const done = evaluateOnClients(run, secureRequest(ids, keys, lines));
    run.secureEvaluation!.finish();
    const evaluated = (await done)!;
    expect(evaluated.result.secure!.aborted).toBe(
      'it did not finish in time (stage advertise-keys, waiting for a, b, c)',
    );
    expect(lines[1]).toBe(
      'round 7: secure federated evaluation failed: it did not finish in time (stage advertise-keys, waiting for a, b, c)',
    );
    expect(outbox).toHaveLength(3);
    expect(run.secureEvaluation).toBeUndefined();
    expect(scope.pending()).toBe(0);
  });

  it('stops when the run ends during a stage', async () => {
    const ids = ['a', 'b', 'c'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, outbox, scope } = scheduled();
    const done = evaluateOnClients(run, secureRequest(ids, keys, []));
    const answer = evaluators(ids, keys);
    for (const m of outbox.splice(0)) receiveSecureEvaluation(run, m.to, (await answer(m))!);
    scope.end();
    run.secureEvaluation?.finish();
    const evaluated = (await done)!;
    expect(evaluated.result.secure!.aborted).toMatch(/did not finish in time/);
    expect(outbox).toEqual([]);
  });

  it('a departure pokes the session: the stage closes once the rest answered', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const keys = new Map(ids.map((id) => [id, generateIdentity()]));
    const { run, outbox } = scheduled();
    const done = evaluateOnClients(run, secureRequest(ids, keys, []));
    const answer = evaluators(ids, keys);
    for (const m of outbox.splice(0)) if (m.to !== 'e') receiveSecureEvaluation(run, m.to, (await answer(m))!);
    await settle();
    expect(outbox).toEqual([]);
    evaluatorLeft(run, 'e');
    await untilSent(outbox);
    expect(outbox.length).toBe(4);
    expect(await drive(done, outbox, run, answer)).toBe(true);
    expect((await done)!.result).toMatchObject({ reported: ['a', 'b', 'c', 'd'], missing: ['e'] });
  });

  it('refuses a stage message when no secure evaluation runs, naming the round', () => {
    const refusal = { type: 'secagg/refusal' as const, round: 9, reason: 'x' };
    expect(receiveSecureEvaluation(undefined, 'a', refusal)).toMatchObject({ ok: false, code: 'stale-round' });
    expect(receiveSecureEvaluation({ secureEvaluation: undefined }, 'a', refusal)).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'no secure evaluation is running (message is for round 9)',
    });
    expect(() => evaluatorLeft(undefined, 'a')).not.toThrow();
    expect(() => evaluatorLeft({}, 'a')).not.toThrow();
  });
});
