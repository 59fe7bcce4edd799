import { errorMessage } from '../../shared/error-message.js';
import {
  decodeEvaluation,
  secureEvaluationEncoding,
  type SecureEvaluationEncoding,
  type SecureEvaluationSum,
} from '../../shared/aggregation/secure-evaluation.js';
import type { EvaluateTask, SecureEvaluateTask } from '../../shared/protocol/messages.js';
import type { FederatedEvaluation } from '../../shared/protocol/rounds.js';
import { SECURE_STAGES, type SecureStage } from '../../shared/protocol/secagg-messages.js';
import {
  createSetup,
  SecAggMessageError,
  SecAggServer,
  type ActivePhase,
  type Dropout,
  type SecAggClientMessage,
  type SecAggServerMessage,
  type SecAggSetup,
  type ServerStep,
} from '../../shared/secagg/index.js';
import type { Verdict } from './aggregation-protocol.js';

/**
 * Federated evaluation as a SecAgg+ session among the sampled evaluators (secure aggregation on):
 * each scores the model on its held-out split and feeds its confusion matrix and loss into the
 * masked sum (shared/aggregation/secure-evaluation.ts); the coordinator routes the stage messages
 * and learns only the survivors' sums. Pure: the caller sends what it returns, keeps the
 * deadlines (the evaluation timeout for evaluating and advertising keys, a phase timeout for each
 * later stage) and calls closeStage() when ready() or at the deadline.
 */
export interface SecureEvaluationOptions {
  /** The Ed25519 identity key each client registered at join. */
  identityOf(clientId: string): Uint8Array | undefined;
  /** Each stage after advertise-keys gets this long. */
  phaseTimeoutMs: number;
  /** Tests only: a malicious coordinator asking these clients for their figures in the clear (a downgrade they must refuse). */
  downgrade?: (clientId: string) => boolean;
}

/** A message the session sends: the request that opens it (plaintext only when a test downgrades it), or a stage message. */
export type SecureEvaluationOutbound =
  | { event: 'secure-evaluate'; to: string; body: SecureEvaluateTask; weights: Float32Array }
  | { event: 'evaluate'; to: string; body: EvaluateTask; weights: Float32Array }
  | { event: 'secagg-evaluation'; to: string; body: SecAggServerMessage };

type Outcome =
  | { kind: 'done'; survivors: string[]; sum: SecureEvaluationSum; dropouts: Dropout[] }
  | { kind: 'aborted'; reason: string; dropouts: Dropout[] };

export class SecureEvaluationSession {
  private server: SecAggServer | undefined;
  private setup: SecAggSetup | undefined;
  private encoding: SecureEvaluationEncoding | undefined;
  private current: SecureStage = 'advertise-keys';
  private readonly gone = new Set<string>();
  private outcome: Outcome | undefined;

  constructor(
    readonly round: number,
    readonly selected: readonly string[],
    private readonly numClasses: number,
    private readonly options: SecureEvaluationOptions,
    private readonly startedAt: number,
  ) {}

  get stage(): SecureStage {
    return this.current;
  }

  /** The requests that open the session, one per evaluator; none when it cannot run (settled at once). */
  begin(version: number, weights: Float32Array, timeoutMs: number): SecureEvaluationOutbound[] {
    const unregistered = this.selected.filter((id) => !this.options.identityOf(id));
    if (unregistered.length > 0) return this.abort(`no identity key is registered for ${unregistered.join(', ')}`);
    try {
      this.encoding = secureEvaluationEncoding(this.selected.length, this.numClasses);
      this.setup = createSetup({
        round: this.round,
        participants: this.selected.map((id) => ({ id, identityKey: this.options.identityOf(id)! })),
        vectorLength: this.encoding.vectorLength,
        clip: this.encoding.clip,
        maxWeight: this.encoding.maxWeight,
      });
    } catch (e) {
      return this.abort(`it cannot run with ${this.selected.length} evaluators: ${errorMessage(e)}`);
    }
    this.server = new SecAggServer({ setup: this.setup });
    const body: SecureEvaluateTask = {
      round: this.round,
      version,
      timeoutMs,
      secureAggregation: { setup: this.setup },
    };
    const { secureAggregation: _section, ...plaintext } = body;
    return this.selected.map((to): SecureEvaluationOutbound =>
      this.options.downgrade?.(to)
        ? { event: 'evaluate', to, body: plaintext, weights }
        : { event: 'secure-evaluate', to, body, weights },
    );
  }

  receive(clientId: string, message: SecAggClientMessage): Verdict {
    if (!this.server || this.outcome) {
      return {
        ok: false,
        code: 'stale-round',
        message: `the secure evaluation of round ${this.round} is over; '${message.type}' is not needed`,
      };
    }
    try {
      this.server.receive(clientId, message);
    } catch (e) {
      if (!(e instanceof SecAggMessageError)) throw e;
      return { ok: false, code: 'invalid-message', message: e.message };
    }
    return { ok: true };
  }

  /** The client disconnected: the stage stops waiting for it. */
  drop(clientId: string): void {
    if (this.selected.includes(clientId)) this.gone.add(clientId);
  }

  /** Everyone the current stage waits for answered or left. */
  ready(): boolean {
    const server = this.server;
    if (!server || this.outcome) return false;
    return server.complete() || server.pending().every((id) => this.gone.has(id));
  }

  settled(): boolean {
    return this.outcome !== undefined;
  }

  /** Closes the current stage: the next stage's messages to send, or none once the session ended. */
  async closeStage(): Promise<SecureEvaluationOutbound[]> {
    if (!this.server || this.outcome) return [];
    let step: ServerStep;
    try {
      step = await this.server.close();
    } catch (e) {
      step = { kind: 'aborted', reason: `closing stage ${this.current} failed: ${errorMessage(e)}`, dropouts: [] };
    }
    switch (step.kind) {
      case 'send':
        return this.enter(step.phase, step.messages);
      case 'done':
        try {
          const sum = decodeEvaluation(step.result.mean, step.result.survivors.length, this.encoding!);
          this.outcome = { kind: 'done', survivors: step.result.survivors, sum, dropouts: step.result.dropouts };
        } catch (e) {
          this.outcome = { kind: 'aborted', reason: errorMessage(e), dropouts: step.result.dropouts };
        }
        return [];
      case 'aborted':
        this.outcome = { kind: 'aborted', reason: step.reason, dropouts: step.dropouts };
        return [];
      default: {
        const never: never = step;
        throw new Error(`unknown secure aggregation step ${JSON.stringify(never)}`);
      }
    }
  }

  /** Ends a session that did not finish (its deadline passed or the round was stopped). */
  expire(): void {
    if (this.outcome) return;
    const waiting = this.server?.pending() ?? [];
    this.outcome = {
      kind: 'aborted',
      reason: `it did not finish in time (stage ${this.current}${waiting.length > 0 ? `, waiting for ${waiting.sort().join(', ')}` : ''})`,
      dropouts: [],
    };
  }

  /** Why the session ended without a sum, if it did. */
  failure(): string | undefined {
    return this.outcome?.kind === 'aborted' ? this.outcome.reason : undefined;
  }

  /** The record: the survivors' sums only, and who dropped out at which stage. */
  result(now: number): FederatedEvaluation {
    const outcome = this.outcome;
    const survivors = outcome?.kind === 'done' ? outcome.survivors : [];
    const dropouts = (outcome?.dropouts ?? [])
      // The unmask stage closes once every secret has enough shares: a live client whose shares were not needed did not drop.
      .filter((d) => !(d.phase === 'unmask' && d.reason === undefined && !this.gone.has(d.id)))
      .map((d) => ({ clientId: d.id, stage: d.phase, ...(d.reason ? { reason: d.reason } : {}) }))
      .sort(
        (a, b) => SECURE_STAGES.indexOf(a.stage) - SECURE_STAGES.indexOf(b.stage) || (a.clientId < b.clientId ? -1 : 1),
      );
    const sum = outcome?.kind === 'done' ? outcome.sum : undefined;
    return {
      selected: [...this.selected],
      reported: survivors,
      declined: [],
      missing: this.selected.filter((id) => !survivors.includes(id)).sort(),
      ...(sum ? { loss: sum.loss, accuracy: sum.accuracy, confusion: sum.confusion, perClass: sum.perClass } : {}),
      numExamples: sum?.numExamples ?? 0,
      durationMs: Math.max(0, now - this.startedAt),
      secure: {
        ...(this.setup ? { k: this.setup.k, threshold: this.setup.threshold } : {}),
        stage: this.current,
        dropouts,
        ...(sum ? { lossErrorBound: sum.lossErrorBound } : {}),
        ...(outcome?.kind === 'aborted' ? { aborted: outcome.reason } : {}),
      },
    };
  }

  private enter(phase: ActivePhase, messages: Map<string, SecAggServerMessage>): SecureEvaluationOutbound[] {
    this.current = phase;
    const out: SecureEvaluationOutbound[] = [];
    for (const [to, body] of messages) if (!this.gone.has(to)) out.push({ event: 'secagg-evaluation', to, body });
    return out;
  }

  private abort(reason: string): SecureEvaluationOutbound[] {
    this.outcome = { kind: 'aborted', reason: `secure evaluation of round ${this.round}: ${reason}`, dropouts: [] };
    return [];
  }
}
