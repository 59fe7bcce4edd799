import { describe, expect, it } from 'vitest';
import { publicRoundView } from '../../../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../../../shared/protocol/rounds.js';
import { describeCoordinator } from '../../../shared/feed/feed-summary.js';

/** The browser client page's one-line summary of the coordinator, from each view of the feed. */

const training: RoundRecord = {
  round: 3,
  status: 'training',
  stage: 'upload',
  baseVersion: 2,
  participants: ['a', 'b'],
  dropped: [],
  contributions: [],
  numExamples: 0,
  updateBytes: 0,
  startedAt: new Date(0).toISOString(),
  phaseMs: {},
  durationMs: 0,
};
const counters = { currentVersion: 2, pendingRounds: 1 };

describe('describeCoordinator', () => {
  it('counts participants and connected clients in the admin and the aggregate views', () => {
    expect(
      describeCoordinator({ access: 'admin', ...counters, connectedClients: ['a', 'b', 'c'], running: training }),
    ).toBe('round 3 training (upload), 2 participant(s); 3 client(s) connected');
    expect(
      describeCoordinator({
        access: 'public',
        ...counters,
        connectedClients: 3,
        running: publicRoundView(training, { privacy: false }),
      }),
    ).toBe('round 3 training (upload), 2 participant(s); 3 client(s) connected');
    expect(describeCoordinator({ access: 'public', ...counters, connectedClients: 0, running: null })).toBe(
      'no round running; 0 client(s) connected',
    );
  });

  it('leaves the counts out under differential privacy, where the public view has none', () => {
    expect(
      describeCoordinator({ access: 'public', ...counters, running: publicRoundView(training, { privacy: true }) }),
    ).toBe('round 3 training (upload)');
  });
});
