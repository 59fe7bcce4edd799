import type { Sampler } from '../../shared/aggregation/types.js';
import type { ErrorCode } from '../../shared/protocol/messages.js';
import type { RoundStatus } from '../../shared/protocol/rounds.js';
import {
  roundOf,
  sendersOf,
  type AggregationProtocol,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type Verdict,
} from './aggregation-protocol.js';

/**
 * One round as an explicit state machine, pure: no sockets, no timers, no clock. The caller feeds
 * events with the current time, schedules a wake-up at `deadline`, and carries out the returned
 * effects. During training the protocol's own deadline (a secure-aggregation stage) counts too.
 *
 *   waiting --(minClients connected)--> selecting --(window over, or maxClients connected)--> training
 *   training --(all settled, or deadline, with >= minResults)--> aggregating --> committed
 *   training --(too few results)--> failed;  aggregating --(aggregation or persistence error)--> failed
 *
 * The states are RoundStatus (shared/protocol/rounds.ts), the status every round record shows.
 */
export interface RoundPolicy {
  /** Connected clients needed before selection starts. */
  minClients: number;
  /** Selection stops waiting for stragglers once this many clients are connected. */
  maxClients: number;
  /** Complete contributions needed to commit; fewer by the deadline fails the round. */
  minResults: number;
  /** How long selection waits for more clients to connect once minClients are there. */
  selectionWindowMs: number;
  /** Deadline of the training phase. */
  trainingTimeoutMs: number;
}

export type RoundEffect =
  | { type: 'send'; message: Outbound }
  /** Work the protocol awaits; apply the continuation's effects when it settles, if the round still runs. */
  | { type: 'await'; work: Promise<(now: number) => RoundEffect[]> }
  /** Entered 'aggregating': compute, persist, then call committed() or aggregationFailed(). */
  | { type: 'aggregate' }
  | { type: 'closed'; outcome: 'committed' | 'failed' };

export class RoundMachine {
  status: RoundStatus = 'waiting';
  participants: readonly string[] = [];
  /** Why the round failed. */
  reason: string | undefined;
  protocol: AggregationProtocol | undefined;
  /** When each status was entered (ms since epoch). */
  readonly enteredAt: Partial<Record<RoundStatus, number>>;
  private statusDeadline: number | undefined;
  private available: readonly string[] = [];
  private readonly dropped = new Set<string>();
  private readonly refused = new Map<string, string>();

  constructor(
    readonly round: number,
    private readonly policy: RoundPolicy,
    private readonly sampler: Sampler,
    private readonly openProtocol: () => AggregationProtocol,
    now: number,
  ) {
    if (!(policy.minResults >= 1 && policy.minResults <= policy.minClients)) {
      throw new Error(`minResults must be between 1 and minClients (${policy.minClients}), got ${policy.minResults}`);
    }
    if (!(policy.maxClients >= policy.minClients)) {
      throw new Error(`maxClients (${policy.maxClients}) must be at least minClients (${policy.minClients})`);
    }
    this.enteredAt = { waiting: now };
  }

  /** When the caller must call tick(), if anything is timed. */
  get deadline(): number | undefined {
    const own = this.protocol && this.status === 'training' ? this.protocol.deadline : undefined;
    if (own === undefined) return this.statusDeadline;
    return this.statusDeadline === undefined ? own : Math.min(own, this.statusDeadline);
  }

  get closed(): boolean {
    return this.status === 'committed' || this.status === 'failed';
  }

  /** The set of connected clients changed (or is reported for the first time). */
  setAvailable(clients: readonly string[], now: number): RoundEffect[] {
    this.available = [...clients];
    switch (this.status) {
      case 'waiting':
        if (clients.length < this.policy.minClients) return [];
        this.enter('selecting', now, now + this.policy.selectionWindowMs);
        return clients.length >= this.policy.maxClients ? this.select(now) : [];
      case 'selecting':
        if (clients.length < this.policy.minClients) {
          this.enter('waiting', now, undefined);
          return [];
        }
        return clients.length >= this.policy.maxClients ? this.select(now) : [];
      case 'training':
      case 'aggregating':
      case 'committed':
      case 'failed':
        return [];
      default:
        return unreachable(this.status);
    }
  }

  /** Time passed; acts when `deadline` is reached. */
  tick(now: number): RoundEffect[] {
    const deadline = this.deadline;
    if (deadline !== undefined && now < deadline) return [];
    // Selecting and training always have a deadline; the other statuses none, so nothing is due.
    switch (this.status) {
      case 'selecting':
        return this.select(now);
      case 'training': {
        if (this.statusDeadline !== undefined && now >= this.statusDeadline) return this.finishTraining(now);
        return this.advanced(now);
      }
      case 'waiting':
      case 'aggregating':
      case 'committed':
      case 'failed':
        return [];
      default:
        return unreachable(this.status);
    }
  }

  /** A participant's message; anything but a current participant during training is refused. */
  receive(message: Inbound, now: number): { verdict: Verdict; effects: RoundEffect[] } {
    const round = roundOf(message);
    const what = message.kind === 'update' ? 'update' : 'message';
    const outsider = sendersOf(message).find((id) => !this.participants.includes(id));
    if (round !== this.round) {
      return refuse(
        'stale-round',
        `${what} is for round ${round}, but round ${this.round} is the current round (${this.status})`,
      );
    }
    if (this.status !== 'training' || !this.protocol) {
      const doing = message.kind === 'update' ? 'collecting updates' : 'exchanging protocol messages';
      return refuse('stale-round', `round ${this.round} is ${this.status}, not ${doing}`);
    }
    if (outsider !== undefined) {
      return refuse('not-selected', `${outsider} was not selected for round ${this.round}`);
    }
    const verdict = this.protocol.receive(message);
    // An update too large to use: like an undecodable one, its sender is out of the round.
    if (!verdict.ok && verdict.code === 'norm-too-large' && message.kind === 'update') {
      return { verdict, effects: this.refuse(message.clientId, round, `${verdict.code}: ${verdict.message}`, now) };
    }
    return { verdict, effects: verdict.ok ? this.advanced(now) : [] };
  }

  /** A client disconnected: it no longer counts as available, and a participant is not waited for. */
  drop(clientId: string, now: number): RoundEffect[] {
    const effects = this.setAvailable(
      this.available.filter((c) => c !== clientId),
      now,
    );
    if (
      this.status === 'training' &&
      this.protocol &&
      this.participants.includes(clientId) &&
      this.protocol.drop(clientId)
    ) {
      this.dropped.add(clientId);
      return [...effects, ...this.advanced(now)];
    }
    return effects;
  }

  /**
   * A participant's update was unusable (non-finite values, wrong size): it is out of this
   * round, and the round stops waiting for it.
   */
  refuse(clientId: string, round: number, reason: string, now: number): RoundEffect[] {
    if (this.status !== 'training' || round !== this.round || !this.protocol || !this.participants.includes(clientId))
      return [];
    if (!this.protocol.drop(clientId)) return [];
    this.refused.set(clientId, reason);
    return this.advanced(now);
  }

  /** The aggregate was applied and persisted as a new version. */
  committed(now: number): RoundEffect[] {
    this.expect('aggregating', 'commit');
    this.enter('committed', now, undefined);
    return [{ type: 'closed', outcome: 'committed' }];
  }

  /** Aggregation or persistence failed: the model is unchanged. */
  aggregationFailed(reason: string, now: number): RoundEffect[] {
    this.expect('aggregating', 'fail aggregation of');
    return this.fail(reason, now);
  }

  /** Participants that disconnected before contributing. */
  droppedParticipants(): string[] {
    return [...this.dropped];
  }

  /** Participants whose update was refused as unusable, with the reason. */
  refusedParticipants(): { clientId: string; reason: string }[] {
    return [...this.refused].map(([clientId, reason]) => ({ clientId, reason }));
  }

  private select(now: number): RoundEffect[] {
    let chosen: string[];
    try {
      // With differential privacy the draw is charged (and persisted) as it is taken: if that fails, nothing goes out.
      chosen = this.sampler.select(this.available, this.round);
    } catch (e) {
      return this.fail(`could not draw the participants: ${(e as Error).message}`, now);
    }
    // A Poisson sampler (differential privacy) may pick nobody: fail now rather than at the deadline.
    if (chosen.length === 0)
      return this.fail(`the sampler selected none of the ${this.available.length} connected clients`, now);
    this.participants = chosen;
    try {
      this.protocol = this.openProtocol();
    } catch (e) {
      return this.fail(`could not open the round: ${(e as Error).message}`, now);
    }
    this.enter('training', now, now + this.policy.trainingTimeoutMs);
    return this.protocol.begin(chosen, now).map((message) => ({ type: 'send' as const, message }));
  }

  /** The protocol moves on after an event (or at its deadline); training ends once it settled. */
  private advanced(now: number): RoundEffect[] {
    const protocol = this.protocol!;
    const effects = protocol.advance(now).map((e) => this.lift(e));
    return protocol.settled() ? [...effects, ...this.finishTraining(now)] : effects;
  }

  private lift(effect: ProtocolEffect): RoundEffect {
    switch (effect.type) {
      case 'send':
        return effect;
      case 'await':
        return {
          type: 'await',
          work: effect.work.then((next) => (now: number) => {
            // Training ended meanwhile (its deadline): what the protocol would do next no longer matters.
            if (this.status !== 'training') return [];
            const effects = next(now).map((e) => this.lift(e));
            return this.protocol!.settled() ? [...effects, ...this.finishTraining(now)] : effects;
          }),
        };
      default: {
        const never: never = effect;
        throw new Error(`unknown protocol effect ${JSON.stringify(never)}`);
      }
    }
  }

  private finishTraining(now: number): RoundEffect[] {
    const protocol = this.protocol!;
    const failure = protocol.failure();
    if (failure) return this.fail(failure, now);
    const got = protocol.contributors();
    if (got >= this.policy.minResults) {
      this.enter('aggregating', now, undefined);
      return [{ type: 'aggregate' }];
    }
    const late = this.participants.length - got - this.dropped.size - this.refused.size;
    const why = [
      this.dropped.size > 0 ? `${this.dropped.size} disconnected` : '',
      this.refused.size > 0 ? `${this.refused.size} sent unusable updates` : '',
      late > 0 ? `${late} missed the ${this.policy.trainingTimeoutMs} ms deadline` : '',
    ].filter(Boolean);
    return this.fail(
      `only ${got} of ${this.participants.length} participants contributed, ${this.policy.minResults} needed (${why.join(', ')})`,
      now,
    );
  }

  private fail(reason: string, now: number): RoundEffect[] {
    this.reason = reason;
    this.enter('failed', now, undefined);
    return [{ type: 'closed', outcome: 'failed' }];
  }

  private enter(status: RoundStatus, now: number, deadline: number | undefined): void {
    this.status = status;
    this.statusDeadline = deadline;
    this.enteredAt[status] = now;
  }

  private expect(status: RoundStatus, action: string): void {
    if (this.status !== status) throw new Error(`cannot ${action} round ${this.round} in status ${this.status}`);
  }
}

function refuse(code: ErrorCode, message: string): { verdict: Verdict; effects: RoundEffect[] } {
  return { verdict: { ok: false, code, message }, effects: [] };
}

function unreachable(status: never): never {
  throw new Error(`unknown round status ${String(status)}`);
}
