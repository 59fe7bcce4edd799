import type { RoundRecord } from '../shared/protocol/rounds.js';
import type { Coordinator } from './coordinator.js';

/** Upper bounds (seconds) of the round-duration histogram buckets. */
const DURATION_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600];

/**
 * Prometheus text exposition (format 0.0.4) of the coordinator: rounds by outcome, connected
 * clients, update traffic and a histogram of round durations, since this process started.
 * With differential privacy on, series that count or time what the drawn clients did (connected
 * clients, updates, bytes, round durations, federated evaluation) are for the admin token only,
 * their help text marking them outside the guarantee: the public sees rounds, versions and the
 * privacy account.
 */
export class CoordinatorMetrics {
  private readonly bucketCounts = new Array<number>(DURATION_BUCKETS.length).fill(0);
  private durationSum = 0;
  private durationCount = 0;
  /** The latest committed round's federated evaluation accuracy, if it had one. */
  private federatedAccuracy: number | undefined;
  /** Per-class accuracy (recall) of the latest committed round on the coordinator's held-out data, and federated. */
  private heldOutClassAccuracy: number[] | undefined;
  private federatedClassAccuracy: number[] | undefined;

  constructor(private readonly coordinator: Coordinator) {
    coordinator.on('round', (record) => this.observe(record));
  }

  render(access: 'public' | 'admin' = 'admin'): string {
    const c = this.coordinator;
    const s = c.stats;
    const privacy = c.privacyStatus();
    const lines: string[] = [];
    const metric = (
      name: string,
      type: 'counter' | 'gauge' | 'histogram',
      help: string,
      samples: [string, number][],
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    const operational = privacy === undefined || access === 'admin';
    const outside = privacy ? ' Outside the differential-privacy guarantee (admin token only).' : '';
    /** A series about what the drawn clients did: withheld from the public with differential privacy on. */
    const clientMetric = (
      name: string,
      type: 'counter' | 'gauge' | 'histogram',
      help: string,
      samples: [string, number][],
    ) => {
      if (operational) metric(name, type, `${help}${outside}`, samples);
    };
    metric('fedserve_rounds_total', 'counter', 'Rounds closed since the coordinator started, by outcome.', [
      ['{outcome="committed"}', s.roundsCommitted],
      ['{outcome="failed"}', s.roundsFailed],
    ]);
    clientMetric('fedserve_connected_clients', 'gauge', 'Clients connected now.', [['', c.connectedClients().length]]);
    metric('fedserve_pending_rounds', 'gauge', 'Rounds queued or running.', [['', c.pendingRounds()]]);
    metric('fedserve_model_version', 'gauge', 'Version of the current global model.', [['', c.currentVersion]]);
    clientMetric('fedserve_updates_total', 'counter', 'Client updates received, by result.', [
      ['{result="accepted"}', s.updatesAccepted],
      ['{result="refused"}', s.updatesRefused],
    ]);
    clientMetric('fedserve_update_bytes_total', 'counter', 'Bytes of accepted client updates (binary weight deltas).', [
      ['', s.updateBytes],
    ]);
    let cumulative = 0;
    const buckets: [string, number][] = DURATION_BUCKETS.map((le, i) => {
      cumulative += this.bucketCounts[i];
      return [`_bucket{le="${le}"}`, cumulative];
    });
    clientMetric(
      'fedserve_round_duration_seconds',
      'histogram',
      'Wall time of closed rounds, from start to commit or failure.',
      [
        ...buckets,
        ['_bucket{le="+Inf"}', this.durationCount],
        ['_sum', this.durationSum],
        ['_count', this.durationCount],
      ],
    );
    if (privacy) {
      metric(
        'fedserve_privacy_epsilon',
        'gauge',
        `Epsilon spent by the released models (${privacy.mode} DP), at delta fedserve_privacy_delta.`,
        [['', privacy.epsilon]],
      );
      metric('fedserve_privacy_delta', 'gauge', 'Delta of the reported epsilon.', [['', privacy.delta]]);
      metric('fedserve_privacy_target_epsilon', 'gauge', 'Training stops before a round would pass this epsilon.', [
        ['', privacy.targetEpsilon],
      ]);
      metric('fedserve_privacy_rounds_remaining', 'gauge', 'Rounds that still fit the privacy budget.', [
        ['', privacy.roundsRemaining],
      ]);
      metric('fedserve_privacy_budget_exhausted', 'gauge', '1 once no further round fits the privacy budget.', [
        ['', privacy.exhausted ? 1 : 0],
      ]);
      const { participationKnown } = privacy.audiences;
      metric(
        'fedserve_privacy_epsilon_participation_known',
        'gauge',
        'Epsilon against an observer of who was drawn (no sampling discount), for a client drawn in its expected share of rounds or in every round.',
        [
          ['{client="typical"}', participationKnown.typicalClient],
          ['{client="every-round"}', participationKnown.everyRound],
        ],
      );
      if (privacy.coordinatorEpsilon !== null) {
        metric(
          'fedserve_privacy_coordinator_epsilon',
          'gauge',
          'Distributed DP: epsilon against the coordinator itself.',
          [['', privacy.coordinatorEpsilon]],
        );
      }
    }
    if (this.federatedAccuracy !== undefined) {
      clientMetric(
        'fedserve_federated_evaluation_accuracy',
        'gauge',
        "Latest round's example-weighted accuracy on the clients' held-out data.",
        [['', this.federatedAccuracy]],
      );
    }
    const byClass = (values: number[]): [string, number][] => values.map((v, c) => [`{class="${c}"}`, v]);
    if (this.heldOutClassAccuracy) {
      metric(
        'fedserve_heldout_class_accuracy',
        'gauge',
        "Latest committed model's accuracy on each class of the coordinator's held-out data (recall).",
        byClass(this.heldOutClassAccuracy),
      );
    }
    if (this.federatedClassAccuracy) {
      clientMetric(
        'fedserve_federated_evaluation_class_accuracy',
        'gauge',
        "Latest round's accuracy on each class of the clients' held-out data, counts summed over clients (recall).",
        byClass(this.federatedClassAccuracy),
      );
    }
    return `${lines.join('\n')}\n`;
  }

  private observe(record: RoundRecord): void {
    if (record.federatedEvaluation?.accuracy !== undefined)
      this.federatedAccuracy = record.federatedEvaluation.accuracy;
    if (record.evaluation?.perClass) this.heldOutClassAccuracy = record.evaluation.perClass.map((c) => c.recall);
    if (record.federatedEvaluation?.perClass)
      this.federatedClassAccuracy = record.federatedEvaluation.perClass.map((c) => c.recall);
    const seconds = record.durationMs / 1000;
    const i = DURATION_BUCKETS.findIndex((le) => seconds <= le);
    if (i >= 0) this.bucketCounts[i]++;
    this.durationSum += seconds;
    this.durationCount++;
  }
}
