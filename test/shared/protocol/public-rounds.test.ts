import { describe, expect, it } from 'vitest';
import {
  AdminRoundListSchema,
  adminRoundList,
  OUTSIDE_DP_GUARANTEE,
  PublicRoundListSchema,
  PublicRoundSchema,
  publicRoundList,
  publicRoundView,
  redactClientIds,
} from '../../../shared/protocol/public-rounds.js';
import type { PrivacyStatus, RoundRecord } from '../../../shared/protocol/rounds.js';

/**
 * The public view of a round: aggregates only, and with differential privacy on only what the
 * accountant covers. Every field of a fully filled record is checked, so a field added to the
 * record later must be sorted into one of the two lists here to pass.
 */

const IDS = ['alice-7f', 'bob-3c', 'carol-9d', 'dave-1a', 'erin-5e'];

/** Every field set, with per-client numbers that appear nowhere else. */
function fullRecord(): RoundRecord {
  return {
    round: 4,
    status: 'failed',
    stage: 'unmask',
    baseVersion: 3,
    version: 4,
    participants: ['alice-7f', 'bob-3c', 'carol-9d', 'dave-1a'],
    dropped: ['dave-1a'],
    refused: [{ clientId: 'carol-9d', reason: 'non-finite update' }],
    contributions: [
      { clientId: 'alice-7f', numExamples: 1237, loss: 0.731173, accuracy: 0.812341, trainMs: 4411 },
      { clientId: 'bob-3c', numExamples: 2459, loss: 0.455217, accuracy: 0.871167, trainMs: 5522 },
    ],
    numExamples: 3696,
    trainLoss: 0.547397,
    trainAccuracy: 0.851559,
    evaluation: { loss: 0.611, accuracy: 0.83, numExamples: 10_000 },
    federatedEvaluation: {
      selected: ['alice-7f', 'bob-3c', 'erin-5e'],
      reported: ['alice-7f'],
      declined: ['bob-3c'],
      missing: ['erin-5e'],
      loss: 0.7001,
      accuracy: 0.8002,
      numExamples: 313,
      confusion: [
        [150, 13],
        [20, 130],
      ],
      perClass: [
        { precision: 150 / 170, recall: 150 / 163, f1: 0.9, support: 163 },
        { precision: 130 / 143, recall: 130 / 150, f1: 0.89, support: 150 },
      ],
      skipped: 'erin-5e missed the deadline',
      durationMs: 120,
    },
    privacy: {
      mode: 'central',
      epsilon: 2.5,
      delta: 1e-5,
      targetEpsilon: 8,
      order: 12,
      samplingRate: 0.5,
      expectedContributors: 3,
      contributors: 2,
      clipNorm: 1,
      releasedNoiseMultiplier: 1.1,
      clientNoiseMultiplier: null,
      coordinatorEpsilon: null,
      clippedUpdates: 1,
    },
    secureAggregation: {
      k: 2,
      threshold: 2,
      clip: 0.5,
      maxWeight: 10_000,
      stage: 'unmask',
      stageMs: { 'advertise-keys': 21 },
      survivors: ['alice-7f', 'bob-3c'],
      dropouts: [{ clientId: 'dave-1a', stage: 'share-keys', reason: 'left' }],
      errorBound: 3e-7,
    },
    updateBytes: 99_001,
    reason: 'bad share from bob-3c (alice-7f agrees)',
    startedAt: '2026-01-01T00:00:00.000Z',
    phaseMs: { training: 1500 },
    durationMs: 1700,
  };
}

/** A DP-off record: the same without the privacy section. */
function plainRecord(): RoundRecord {
  const { privacy: _privacy, ...rest } = fullRecord();
  return rest;
}

const PER_CLIENT_NUMBERS = [1237, 0.731173, 0.812341, 4411, 2459, 0.455217, 0.871167, 5522];

/** Every number anywhere in a JSON value. */
function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.flatMap(numbersIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(numbersIn);
  return [];
}

/** Dotted paths of a record's fields, one level into the privacy and secure-aggregation sections. */
function fieldPaths(value: Record<string, unknown>): string[] {
  return Object.entries(value).flatMap(([key, v]) =>
    (key === 'privacy' || key === 'secureAggregation') && v && typeof v === 'object'
      ? Object.keys(v).map((k) => `${key}.${k}`)
      : [key],
  );
}

describe('publicRoundView without differential privacy', () => {
  it('keeps counts and aggregates, and no client id or per-client number', () => {
    const view = publicRoundView(plainRecord(), { privacy: false });
    expect(PublicRoundSchema.parse(view)).toEqual(view);
    const json = JSON.stringify(view);
    for (const id of IDS) expect(json).not.toContain(id);
    for (const n of PER_CLIENT_NUMBERS) expect(numbersIn(view)).not.toContain(n);
    expect(view).toMatchObject({
      view: 'aggregates',
      participants: 4,
      contributors: 2,
      dropped: 1,
      refused: 1,
      numExamples: 3696,
      trainLoss: 0.547397,
      federatedEvaluation: {
        selected: 3,
        reported: 1,
        declined: 1,
        missing: 1,
        numExamples: 313,
        skipped: '<client> missed the deadline',
        confusion: [
          [150, 13],
          [20, 130],
        ],
      },
      secureAggregation: { k: 2, threshold: 2, survivors: 2, dropouts: 1, errorBound: 3e-7 },
      reason: 'bad share from <client> (<client> agrees)',
      durationMs: 1700,
    });
  });
});

/** A cluster round: per-node sums in place of per-client contributions. */
function clusterRecord(): RoundRecord {
  return {
    ...plainRecord(),
    secureAggregation: undefined,
    contributions: [],
    nodes: [
      {
        node: 'node-a1',
        contributors: 1,
        numExamples: 1237,
        loss: 0.731173,
        accuracy: 0.812341,
        refused: 1,
        updateBytes: 31_411,
      },
      {
        node: 'node-b2',
        contributors: 1,
        numExamples: 2459,
        loss: 0.455217,
        accuracy: 0.871167,
        refused: 0,
        updateBytes: 31_422,
      },
    ],
  };
}

describe('publicRoundView of a cluster round', () => {
  it('counts the contributors of every node, and shows no node summary: one client on a node would be its own numbers', () => {
    const view = publicRoundView(clusterRecord(), { privacy: false });
    expect(PublicRoundSchema.parse(view)).toEqual(view);
    expect(view).toMatchObject({ view: 'aggregates', contributors: 2, numExamples: 3696, trainLoss: 0.547397 });
    const json = JSON.stringify(view);
    for (const id of [...IDS, 'node-a1', 'node-b2']) expect(json).not.toContain(id);
    for (const n of [...PER_CLIENT_NUMBERS, 31_411, 31_422]) expect(numbersIn(view)).not.toContain(n);
    expect(numbersIn(publicRoundView(clusterRecord(), { privacy: true }))).not.toContain(1237);
  });
});

describe('publicRoundView with differential privacy', () => {
  it('keeps only what the accountant covers: no counts, sums, per-client metrics or timings', () => {
    const view = publicRoundView(fullRecord(), { privacy: true });
    expect(PublicRoundSchema.parse(view)).toEqual(view);
    // Federated evaluation, per class included, is not released under DP.
    expect(JSON.stringify(view)).not.toContain('perClass');
    expect(JSON.stringify(view)).not.toContain('[150,13]');
    expect(view).toEqual({
      view: 'dp',
      round: 4,
      status: 'failed',
      stage: 'unmask',
      baseVersion: 3,
      version: 4,
      evaluation: { loss: 0.611, accuracy: 0.83, numExamples: 10_000 },
      privacy: {
        mode: 'central',
        epsilon: 2.5,
        delta: 1e-5,
        targetEpsilon: 8,
        order: 12,
        samplingRate: 0.5,
        clipNorm: 1,
        releasedNoiseMultiplier: 1.1,
        clientNoiseMultiplier: null,
        coordinatorEpsilon: null,
      },
      secureAggregation: true,
    });
    const json = JSON.stringify(view);
    for (const id of IDS) expect(json).not.toContain(id);
    // The exact sums and counts too: 3696 examples, the mean training metrics, 2 of 4 contributed.
    for (const n of [...PER_CLIENT_NUMBERS, 3696, 0.547397, 0.851559, 313, 0.7001, 99_001, 1700])
      expect(numbersIn(view)).not.toContain(n);
  });

  it('applies to a round trained with differential privacy even when it is off now', () => {
    expect(publicRoundView(fullRecord(), { privacy: false }).view).toBe('dp');
    expect(publicRoundView(plainRecord(), { privacy: true }).view).toBe('dp');
  });

  it('sorts every field of a record into the DP view or OUTSIDE_DP_GUARANTEE, never both', () => {
    const record: RoundRecord = { ...fullRecord(), nodes: clusterRecord().nodes };
    const inView = new Set(fieldPaths(publicRoundView(record, { privacy: true })));
    const outside = new Set<string>(OUTSIDE_DP_GUARANTEE);
    for (const path of fieldPaths(record)) {
      // (The secure-aggregation section is reduced to a flag in the view: its fields are outside.)
      expect({ path, sorted: inView.has(path) !== outside.has(path) }).toEqual({ path, sorted: true });
    }
  });
});

describe('round lists', () => {
  const privacy: PrivacyStatus = {
    mode: 'central',
    epsilon: 2.5,
    delta: 1e-5,
    targetEpsilon: 8,
    coordinatorEpsilon: null,
    rounds: 4,
    roundsRemaining: 3,
    clipNorm: 1,
    audiences: { public: 2.5, participationKnown: { typicalClient: 5, everyRound: 9 }, coordinator: null },
  };

  it('public: every round through publicRoundView, the privacy account kept', () => {
    const list = publicRoundList({ currentVersion: 4, pendingRounds: 0, rounds: [plainRecord()], privacy });
    expect(PublicRoundListSchema.parse(list)).toEqual(list);
    expect(list.access).toBe('public');
    expect(list.rounds[0].view).toBe('dp');
    expect(list.privacy).toEqual(privacy);
    expect(publicRoundList({ currentVersion: 4, pendingRounds: 0, rounds: [plainRecord()] }).rounds[0].view).toBe(
      'aggregates',
    );
  });

  it('admin: the full records, marked outside the DP guarantee only when DP is on', () => {
    const on = adminRoundList({ currentVersion: 4, pendingRounds: 0, rounds: [fullRecord()], privacy });
    expect(AdminRoundListSchema.parse(on)).toEqual(on);
    expect(on.rounds[0]).toEqual(fullRecord());
    expect(on.outsideDpGuarantee).toEqual([...OUTSIDE_DP_GUARANTEE]);
    const off = adminRoundList({ currentVersion: 4, pendingRounds: 0, rounds: [plainRecord()] });
    expect(off.access).toBe('admin');
    expect(off).not.toHaveProperty('outsideDpGuarantee');
  });
});

describe('redactClientIds', () => {
  it('replaces whole ids only, longest first, whatever characters they hold', () => {
    expect(redactClientIds("a aborted; a.b left; client 'a'", ['a', 'a.b'])).toBe(
      "<client> aborted; <client> left; client '<client>'",
    );
    expect(redactClientIds('x(1) sent [2]', ['x(1)', '[2]'])).toBe('<client> sent <client>');
    expect(redactClientIds('no ids here', [])).toBe('no ids here');
    expect(redactClientIds('bob-3cx and bob-3c', ['bob-3c'])).toBe('bob-3cx and <client>');
  });
});
