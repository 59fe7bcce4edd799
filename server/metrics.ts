import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RoundRecord } from '../shared/protocol/rounds.js';
import type { Coordinator } from './coordinator.js';
import type { MetricsExposition } from './metrics-exposition.js';

/** Upper bounds (seconds) of the round-duration histogram buckets. */
const DURATION_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600];

/**
 * The coordinator's Prometheus metrics: rounds by outcome, connected clients, update traffic and a
 * histogram of round durations since this process started, the privacy account, and the latest
 * round's evaluation. Counts the coordinator keeps are read at scrape time (collect callbacks).
 * With differential privacy on, series that count or time what the drawn clients did (connected
 * clients, updates, bytes, round durations, federated evaluation) go to the operational registry
 * (admin token only), their help text marking them outside the guarantee: the public sees rounds,
 * versions and the privacy account.
 */
export class CoordinatorMetrics {
  private readonly roundDuration: Histogram;
  private readonly federatedAccuracy: Gauge;
  private readonly heldOutClassAccuracy: Gauge<'class'>;
  private readonly federatedClassAccuracy: Gauge<'class'>;

  constructor(
    private readonly coordinator: Coordinator,
    private readonly exposition: MetricsExposition,
  ) {
    const c = coordinator;
    const everyone = [exposition.public];
    const clients = [exposition.operational];
    const outside = exposition.privacyOn ? ' Outside the differential-privacy guarantee (admin token only).' : '';
    new Counter({
      name: 'fedserve_rounds_total',
      help: 'Rounds closed since the coordinator started, by outcome.',
      labelNames: ['outcome'],
      registers: everyone,
      collect() {
        this.reset();
        this.inc({ outcome: 'committed' }, c.stats.roundsCommitted);
        this.inc({ outcome: 'failed' }, c.stats.roundsFailed);
      },
    });
    new Gauge({
      name: 'fedserve_connected_clients',
      help: `Clients connected now.${outside}`,
      registers: clients,
      collect() {
        this.set(c.connectedClients().length);
      },
    });
    new Gauge({
      name: 'fedserve_pending_rounds',
      help: 'Rounds queued or running.',
      registers: everyone,
      collect() {
        this.set(c.pendingRounds());
      },
    });
    new Gauge({
      name: 'fedserve_model_version',
      help: 'Version of the current global model.',
      registers: everyone,
      collect() {
        this.set(c.currentVersion);
      },
    });
    new Counter({
      name: 'fedserve_updates_total',
      help: `Client updates received, by result.${outside}`,
      labelNames: ['result'],
      registers: clients,
      collect() {
        this.reset();
        this.inc({ result: 'accepted' }, c.stats.updatesAccepted);
        this.inc({ result: 'refused' }, c.stats.updatesRefused);
      },
    });
    new Counter({
      name: 'fedserve_update_bytes_total',
      help: `Bytes of accepted client updates (binary weight deltas).${outside}`,
      registers: clients,
      collect() {
        this.reset();
        this.inc(c.stats.updateBytes);
      },
    });
    this.roundDuration = new Histogram({
      name: 'fedserve_round_duration_seconds',
      help: `Wall time of closed rounds, from start to commit or failure.${outside}`,
      buckets: DURATION_BUCKETS,
      registers: clients,
    });
    if (exposition.privacyOn) this.privacyAccount(everyone);
    // The latest round's evaluation is registered with its first value: a scrape before any never shows an unmeasured 0.
    this.federatedAccuracy = new Gauge({
      name: 'fedserve_federated_evaluation_accuracy',
      help: `Latest round's example-weighted accuracy on the clients' held-out data.${outside}`,
      registers: [],
    });
    this.heldOutClassAccuracy = new Gauge({
      name: 'fedserve_heldout_class_accuracy',
      help: "Latest committed model's accuracy on each class of the coordinator's held-out data (recall).",
      labelNames: ['class'],
      registers: [],
    });
    this.federatedClassAccuracy = new Gauge({
      name: 'fedserve_federated_evaluation_class_accuracy',
      help: `Latest round's accuracy on each class of the clients' held-out data, counts summed over clients (recall).${outside}`,
      labelNames: ['class'],
      registers: [],
    });
    coordinator.on('round', (record) => this.observe(record));
  }

  /** The privacy account's series, public: they are what differential privacy promises. */
  private privacyAccount(registers: Registry[]): void {
    const status = () => this.coordinator.privacyStatus()!;
    const first = status();
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge(
      'fedserve_privacy_epsilon',
      `Epsilon spent by the released models (${first.mode} DP), at delta fedserve_privacy_delta.`,
      () => status().epsilon,
    );
    gauge('fedserve_privacy_delta', 'Delta of the reported epsilon.', () => status().delta);
    gauge(
      'fedserve_privacy_target_epsilon',
      'Training stops before a round would pass this epsilon.',
      () => status().targetEpsilon,
    );
    gauge(
      'fedserve_privacy_rounds_remaining',
      'Rounds that still fit the privacy budget.',
      () => status().roundsRemaining,
    );
    gauge('fedserve_privacy_budget_exhausted', '1 once no further round fits the privacy budget.', () =>
      status().exhausted ? 1 : 0,
    );
    new Gauge({
      name: 'fedserve_privacy_epsilon_participation_known',
      help: 'Epsilon against an observer of who was drawn (no sampling discount), for a client drawn in its expected share of rounds or in every round.',
      labelNames: ['client'],
      registers,
      collect() {
        const { participationKnown } = status().audiences;
        this.set({ client: 'typical' }, participationKnown.typicalClient);
        this.set({ client: 'every-round' }, participationKnown.everyRound);
      },
    });
    // Only distributed DP has an epsilon against the coordinator; the noise configuration fixes which at start.
    if (first.coordinatorEpsilon !== null) {
      gauge(
        'fedserve_privacy_coordinator_epsilon',
        'Distributed DP: epsilon against the coordinator itself.',
        () => status().coordinatorEpsilon!,
      );
    }
  }

  private observe(record: RoundRecord): void {
    const { public: everyone, operational: clients } = this.exposition;
    const federated = record.federatedEvaluation;
    if (federated?.accuracy !== undefined) {
      this.federatedAccuracy.set(federated.accuracy);
      clients.registerMetric(this.federatedAccuracy);
    }
    if (record.evaluation?.perClass) {
      setByClass(this.heldOutClassAccuracy, record.evaluation.perClass);
      everyone.registerMetric(this.heldOutClassAccuracy);
    }
    if (federated?.perClass) {
      setByClass(this.federatedClassAccuracy, federated.perClass);
      clients.registerMetric(this.federatedClassAccuracy);
    }
    this.roundDuration.observe(record.durationMs / 1000);
  }
}

function setByClass(gauge: Gauge<'class'>, perClass: readonly { recall: number }[]): void {
  gauge.reset();
  perClass.forEach((c, i) => gauge.set({ class: String(i) }, c.recall));
}
