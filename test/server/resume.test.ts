import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FractionSampler } from '../../shared/aggregation/fraction-sampler.js';
import { ServerSgd } from '../../shared/aggregation/server-sgd.js';
import { WeightedMean } from '../../shared/aggregation/weighted-mean.js';
import { parsePrivacyConfig } from '../../shared/privacy/config.js';
import { computeEpsilon } from '../../shared/privacy/rdp.js';
import type { UpdateMeta } from '../../shared/protocol/messages.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { Task } from '../../shared/task.js';
import { Coordinator, type ClientLink } from '../../server/coordinator.js';
import { PrivacyJournal } from '../../server/privacy-journal.js';
import { PrivacyRuntime } from '../../server/privacy-runtime.js';
import { PlaintextProtocol } from '../../server/round/plaintext-protocol.js';
import { withPrivacy } from '../../server/round/private-protocol.js';
import { RoundLog } from '../../server/round-log.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import { lineLogger, silentLogger } from '../../server/logger.js';
import { ManualClock } from './round/manual-clock.js';

/**
 * A coordinator restarted on a data dir whose newest checkpoints are damaged: numbering goes on,
 * no committed round's record is lost, and the privacy ledger never goes backwards.
 */

const link = (id: string): ClientLink => ({ id, send: () => undefined, close: () => undefined });

const DIM = 6;
const task: Task = {
  info: { name: 'toy', inputShape: [3], numClasses: 2, parameterCount: DIM },
  modelTopology: { class_name: 'Sequential', config: { name: 'toy' } },
  weightSpecs: [{ name: 'dense/kernel', shape: [3, 2] }],
  initialWeights: Float32Array.from([1, 2, 3, 4, 5, 6]),
};
const DP = { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 100 } as const;

let dir: string;
let clock: ManualClock;
let logs: string[];
const opened: Coordinator[] = [];

async function open(options: { privacy?: boolean; journal?: boolean } = {}): Promise<Coordinator> {
  const privacy = options.privacy
    ? new PrivacyRuntime(parsePrivacyConfig(DP), { samplingRate: 1, individualUpdatesVisible: true })
    : undefined;
  const c = await Coordinator.open({
    task,
    store: new CheckpointStore(dir, { logger: lineLogger((l) => logs.push(l)) }),
    roundLog: new RoundLog(
      join(dir, 'rounds.jsonl'),
      lineLogger((l) => logs.push(l)),
    ),
    policy: { minClients: 2, maxClients: 2, minResults: 2, selectionWindowMs: 100, trainingTimeoutMs: 1000 },
    trainConfig: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd' },
    strategy: {
      sampler: new FractionSampler({ minClients: 2 }),
      aggregator: new WeightedMean(),
      serverOptimizer: new ServerSgd(),
    },
    protocol: withPrivacy((ctx) => new PlaintextProtocol(ctx), privacy, { updatesInTheClear: true }),
    ...(privacy ? { privacy } : {}),
    ...(options.journal
      ? {
          privacyJournal: new PrivacyJournal(
            join(dir, 'privacy-charges.jsonl'),
            lineLogger((l) => logs.push(l)),
          ),
        }
      : {}),
    clock,
    log: (l) => logs.push(l),
  });
  opened.push(c);
  c.join(link('a'));
  c.join(link('b'));
  return c;
}

const meta = (round: number, numExamples: number, loss = 0.5): UpdateMeta => ({
  round,
  numExamples,
  metrics: { loss, accuracy: 0.75 },
  trainMs: 3,
});

/** Runs one round in which a and b send `examples[i]` examples (and `losses[i]`). */
async function round(c: Coordinator, examples = [10, 10], losses = [0.5, 0.5]): Promise<RoundRecord> {
  const closed = new Promise<RoundRecord>((resolve) => c.once('round', resolve));
  const n = c.startRounds(1);
  clock.advance(100);
  ['a', 'b'].forEach((id, i) =>
    c.receive(id, {
      kind: 'update',
      meta: meta(n, examples[i], losses[i]),
      delta: new Float32Array(DIM).fill(0.1),
      bytes: 0,
    }),
  );
  const record = await closed;
  await c.stop();
  opened.splice(opened.indexOf(c), 1);
  return record;
}

async function flipByte(file: string): Promise<void> {
  const bytes = await readFile(file);
  bytes[bytes.length >> 1] ^= 0x10;
  await writeFile(file, bytes);
}

const versionFile = (v: number, name: string) => join(dir, 'versions', String(v), name);

async function logLines(): Promise<RoundRecord[]> {
  return (await readFile(join(dir, 'rounds.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RoundRecord);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-resume-'));
  clock = new ManualClock();
  logs = [];
});
afterEach(async () => {
  for (const c of opened.splice(0)) await c.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('resuming a data dir with a damaged newest version', () => {
  it('quarantines it, serves the previous one, and numbers the next commit after it', async () => {
    await round(await open());
    await round(await open());
    await flipByte(versionFile(2, 'weights.bin'));

    const c = await open();
    expect(c.currentVersion).toBe(1);
    expect(c.nextRoundNumber()).toBe(3);
    expect(logs.join('\n')).toMatch(
      /checkpoint version 2 is unusable \(weights\.bin does not match its recorded SHA-256\); moved to .*quarantine/,
    );
    const next = await round(c);
    expect(next).toMatchObject({ round: 3, status: 'committed', version: 3, baseVersion: 1 });
    expect(await new CheckpointStore(dir, { logger: silentLogger() }).versions()).toEqual([0, 1, 3]);
    expect((await logLines()).map((r) => [r.round, r.version])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });

  it('refuses to start when every version is damaged, on this start and the next', async () => {
    await (await open()).stop();
    opened.length = 0;
    await flipByte(versionFile(0, 'weights.bin'));
    await expect(open()).rejects.toThrow(/no usable checkpoint in .*: every version up to 0 is damaged/);
    await expect(open()).rejects.toThrow(/no usable checkpoint/);
  });

  it('recovers a committed round record the round log lost, from its checkpoint', async () => {
    await round(await open());
    await round(await open());
    // A damaged line in the middle of the log (round 1's record).
    const lines = (await readFile(join(dir, 'rounds.jsonl'), 'utf8')).split('\n');
    lines[0] = lines[0].replace('"status"', '"stat\u0000s"');
    await writeFile(join(dir, 'rounds.jsonl'), lines.join('\n'));

    const c = await open();
    expect(c.rounds().rounds.map((r) => [r.round, r.status, r.version])).toEqual([
      [1, 'committed', 1],
      [2, 'committed', 2],
    ]);
    expect(logs.join('\n')).toMatch(
      /round 1: its record was missing from the round log; recovered from checkpoint version 1/,
    );
    expect((await new RoundLog(join(dir, 'rounds.jsonl'), silentLogger()).read()).map((r) => r.round).sort()).toEqual([
      1, 2,
    ]);
  });
});

describe('the privacy ledger across a damaged newest version', () => {
  const epsilonAfter = (steps: number) => computeEpsilon({ q: 1, noiseMultiplier: 1, steps, delta: 1e-5 }).epsilon;

  it('is restored from the round log, never going back to the older checkpoint', async () => {
    await round(await open({ privacy: true }));
    const second = await round(await open({ privacy: true }));
    expect(second.privacy!.epsilon).toBeCloseTo(epsilonAfter(2), 10);
    await flipByte(versionFile(2, 'weights.bin'));

    const c = await open({ privacy: true });
    expect(c.currentVersion).toBe(1);
    expect(c.privacyStatus()).toMatchObject({ rounds: 2 });
    expect(c.privacyStatus()!.epsilon).toBe(second.privacy!.epsilon);
    expect(logs.join('\n')).toMatch(/privacy: charged 1 round\(s\) the checkpoint's ledger lacks/);
    const third = await round(c);
    expect(third).toMatchObject({ version: 3, status: 'committed' });
    expect(third.privacy!.epsilon).toBeCloseTo(epsilonAfter(3), 10);
  });

  it('refuses to start when the damaged version left no round record anywhere', async () => {
    await round(await open({ privacy: true }));
    await round(await open({ privacy: true }));
    await flipByte(versionFile(2, 'weights.bin'));
    await writeFile(versionFile(2, 'round.json'), '{"torn');
    const kept = (await readFile(join(dir, 'rounds.jsonl'), 'utf8')).split('\n')[0];
    await writeFile(join(dir, 'rounds.jsonl'), `${kept}\n`);

    await expect(open({ privacy: true })).rejects.toThrow(
      /cannot establish the privacy spent: checkpoint version 2 was damaged \(moved to .*quarantine.*\) and no round record for it survives/,
    );
    // Still refused on the next attempt: the quarantine remembers version 2.
    await expect(open({ privacy: true })).rejects.toThrow(
      /cannot establish the privacy spent: checkpoint version 2 was damaged/,
    );
  });

  it('charges again, from the privacy journal, a round killed before its checkpoint was complete', async () => {
    await round(await open({ privacy: true, journal: true }));
    const second = await round(await open({ privacy: true, journal: true }));
    // As if killed during version 2's write: no version 2, no round 2 record; only the journal knows.
    await rm(join(dir, 'versions', '2'), { recursive: true });
    await writeFile(
      join(dir, 'rounds.jsonl'),
      `${(await readFile(join(dir, 'rounds.jsonl'), 'utf8')).split('\n')[0]}\n`,
    );
    await writeFile(
      join(dir, 'privacy-charges.jsonl'),
      `${await readFile(join(dir, 'privacy-charges.jsonl'), 'utf8')}{"round":3,"priv`,
    );

    const c = await open({ privacy: true, journal: true });
    expect(c.currentVersion).toBe(1);
    expect(c.privacyStatus()!.epsilon).toBe(second.privacy!.epsilon);
    expect(logs.join('\n')).toMatch(/privacy journal .*: line \d+ is not a charge \(interrupted write\?\); skipped/);
    // Round 2 was charged: its number is not reused.
    expect(c.nextRoundNumber()).toBe(3);
    const third = await round(c);
    expect(third).toMatchObject({ round: 3, version: 2 });
    expect(third.privacy!.epsilon).toBeCloseTo(epsilonAfter(3), 10);
  });

  it('without the journal, forgets such a round (what the journal is for)', async () => {
    await round(await open({ privacy: true }));
    const second = await round(await open({ privacy: true }));
    await rm(join(dir, 'versions', '2'), { recursive: true });
    await writeFile(
      join(dir, 'rounds.jsonl'),
      `${(await readFile(join(dir, 'rounds.jsonl'), 'utf8')).split('\n')[0]}\n`,
    );
    const c = await open({ privacy: true });
    expect(c.privacyStatus()!.epsilon).toBeLessThan(second.privacy!.epsilon);
  });

  it('refuses to start with a ledger below what the round log reported', async () => {
    await round(await open({ privacy: true }));
    await round(await open({ privacy: true }));
    // Version 2 removed by hand; the log still reports the epsilon spent after it.
    await rm(join(dir, 'versions', '2'), { recursive: true });
    const records = await logLines();
    const withEpsilon = { ...records[0], round: 5, status: 'failed', privacy: records[1].privacy };
    await writeFile(join(dir, 'rounds.jsonl'), `${JSON.stringify(records[0])}\n${JSON.stringify(withEpsilon)}\n`);
    await expect(open({ privacy: true })).rejects.toThrow(
      /the round log reports epsilon .* spent, but the ledger restored from checkpoint version 1 .* holds only/,
    );
  });
});

describe('round records with extreme client numbers', () => {
  it('commits a round with the largest safe example count and a loss of 1e308, and reads its record back after a restart', async () => {
    const record = await round(await open(), [Number.MAX_SAFE_INTEGER - 1000, 1000], [1e308, 1]);
    expect(record).toMatchObject({ status: 'committed', version: 1, numExamples: Number.MAX_SAFE_INTEGER });
    expect(Number.isFinite(record.trainLoss)).toBe(true);
    const c = await open();
    expect(c.rounds().rounds).toEqual([record]);
    expect(logs.join('\n')).not.toMatch(/skipped/);
  });

  it('fails, without committing, a round whose example total is not a safe integer', async () => {
    const record = await round(await open(), [2 ** 52, 2 ** 52]);
    expect(record.status).toBe('failed');
    expect(record.reason).toMatch(/round 1's record cannot be logged: numExamples is 9007199254740992/);
    const c = await open();
    expect(c.currentVersion).toBe(0);
    expect(Array.from(c.currentWeights())).toEqual(Array.from(task.initialWeights));
    expect(c.rounds().rounds.map((r) => r.status)).toEqual(['failed']);
    expect(await new CheckpointStore(dir, { logger: silentLogger() }).versions()).toEqual([0]);
  });
});
