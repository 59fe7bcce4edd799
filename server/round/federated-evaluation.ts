import { classMetrics, sumConfusions, type ConfusionMatrix } from '../../shared/aggregation/class-metrics.js';
import { aggregateMetrics, type ClientMetrics } from '../../shared/aggregation/evaluation.js';
import type { EvaluationReport } from '../../shared/protocol/messages.js';
import type { FederatedEvaluation } from '../../shared/protocol/rounds.js';
import type { Verdict } from './aggregation-protocol.js';

/**
 * The federated evaluation of one round's model, pure: the selected clients score it on their own
 * held-out splits and the coordinator keeps the example-weighted mean. Clients without held-out
 * data decline; clients that leave or miss the deadline are listed as missing.
 */
export class FederatedEvaluationRound {
  private readonly pending: Set<string>;
  private readonly reports = new Map<string, ClientMetrics & { confusion?: ConfusionMatrix }>();
  private readonly declinedIds: string[] = [];
  private readonly droppedIds: string[] = [];

  constructor(
    readonly round: number,
    readonly selected: readonly string[],
    private readonly startedAt: number,
  ) {
    this.pending = new Set(selected);
  }

  /** Clients that said they hold no held-out data. */
  get declined(): readonly string[] {
    return this.declinedIds;
  }

  receive(clientId: string, report: EvaluationReport): Verdict {
    if (report.round !== this.round) {
      return {
        ok: false,
        code: 'stale-round',
        message: `evaluation is for round ${report.round}, round ${this.round} is being evaluated`,
      };
    }
    if (!this.selected.includes(clientId)) {
      return {
        ok: false,
        code: 'not-selected',
        message: `${clientId} was not selected to evaluate round ${this.round}`,
      };
    }
    if (!this.pending.has(clientId)) {
      return {
        ok: false,
        code: 'duplicate-update',
        message: `${clientId} already answered the evaluation of round ${this.round}`,
      };
    }
    this.pending.delete(clientId);
    if (report.metrics === null) this.declinedIds.push(clientId);
    else this.reports.set(clientId, report.metrics);
    return { ok: true };
  }

  /** The client disconnected: stop waiting for it. */
  drop(clientId: string): void {
    if (this.pending.delete(clientId)) this.droppedIds.push(clientId);
  }

  settled(): boolean {
    return this.pending.size === 0;
  }

  /**
   * The sum of the reporting clients' confusion matrices: only when every one of them sent one of
   * the same size, since a partial sum would mislabel the per-class figures as covering them all.
   */
  private summedConfusion(reported: readonly string[]): ConfusionMatrix | undefined {
    const matrices = reported.map((id) => this.reports.get(id)!.confusion);
    if (matrices.length === 0 || matrices.some((m) => m === undefined || m.length !== matrices[0]!.length))
      return undefined;
    return sumConfusions(matrices as ConfusionMatrix[]);
  }

  result(now: number): FederatedEvaluation {
    // In client-id order, not arrival order: the same reports always give the same float sums.
    const reported = [...this.reports.keys()].sort();
    const metrics = reported.length > 0 ? aggregateMetrics(reported.map((id) => this.reports.get(id)!)) : undefined;
    const confusion = this.summedConfusion(reported);
    return {
      selected: [...this.selected],
      reported,
      declined: [...this.declinedIds].sort(),
      missing: [...this.droppedIds, ...this.pending].sort(),
      ...(metrics ? { loss: metrics.loss, accuracy: metrics.accuracy } : {}),
      numExamples: metrics?.numExamples ?? 0,
      ...(confusion ? { confusion, perClass: classMetrics(confusion) } : {}),
      durationMs: Math.max(0, now - this.startedAt),
    };
  }
}

/** The record of a round whose evaluation could not start. */
export function skippedEvaluation(reason: string): FederatedEvaluation {
  return { selected: [], reported: [], declined: [], missing: [], numExamples: 0, skipped: reason, durationMs: 0 };
}
