import type { Sampler } from '../../shared/aggregation/types.js';
import type { ErrorCode } from '../../shared/protocol/messages.js';
import type { AggregationProtocol, Inbound, Outbound, ProtocolMessage, Verdict } from './aggregation-protocol.js';

/**
 * One round as an explicit state machine, pure: no sockets, no timers, no clock. The caller feeds
 * events with the current time, schedules a wake-up at `deadline`, and carries out the returned
 * effects.
 *
 *   waiting --(minClients connected)--> selecting --(window over, or maxClients connected)--> training
 *   training --(all settled, or deadline, with >= minResults)--> aggregating --> committed
 *   training --(too few results)--> failed;  aggregating --(aggregation or persistence error)--> failed
 */
export type RoundPhase = 'waiting' | 'selecting' | 'training' | 'aggregating' | 'committed' | 'failed';

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
  /** Entered 'aggregating': compute, persist, then call committed() or aggregationFailed(). */
  | { type: 'aggregate' }
  | { type: 'closed'; outcome: 'committed' | 'failed' };

export class RoundMachine {
  phase: RoundPhase = 'waiting';
  /** When the caller must call tick(), if anything is timed. */
  deadline: number | undefined;
  participants: readonly string[] = [];
  /** Why the round failed. */
  reason: string | undefined;
  protocol: AggregationProtocol | undefined;
  /** When each phase was entered (ms since epoch). */
  readonly enteredAt: Partial<Record<RoundPhase, number>>;
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

  get closed(): boolean {
    return this.phase === 'committed' || this.phase === 'failed';
  }

  /** The set of connected clients changed (or is reported for the first time). */
  setAvailable(clients: readonly string[], now: number): RoundEffect[] {
    this.available = [...clients];
    switch (this.phase) {
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
        return unreachable(this.phase);
    }
  }

  /** Time passed; acts when `deadline` is reached. */
  tick(now: number): RoundEffect[] {
    if (this.deadline === undefined || now < this.deadline) return [];
    switch (this.phase) {
      case 'selecting':
        return this.select(now);
      case 'training':
        return this.finishTraining(now);
      case 'waiting':
      case 'aggregating':
      case 'committed':
      case 'failed':
        return [];
      default:
        return unreachable(this.phase);
    }
  }

  /** A participant's message; anything but a current participant during training is refused. */
  receive(message: Inbound, now: number): { verdict: Verdict; effects: RoundEffect[] } {
    const round = message.meta.round;
    if (round !== this.round) {
      return refuse(
        'stale-round',
        `update is for round ${round}, but round ${this.round} is the current round (${this.phase})`,
      );
    }
    if (this.phase !== 'training' || !this.protocol) {
      return refuse('stale-round', `round ${this.round} is ${this.phase}, not collecting updates`);
    }
    if (!this.participants.includes(message.clientId)) {
      return refuse('not-selected', `${message.clientId} was not selected for round ${this.round}`);
    }
    const verdict = this.protocol.receive(message);
    // An update too large to use: like an undecodable one, its sender is out of the round.
    if (!verdict.ok && verdict.code === 'norm-too-large') {
      return { verdict, effects: this.refuse(message.clientId, round, `${verdict.code}: ${verdict.message}`, now) };
    }
    const effects = verdict.ok && this.protocol.settled() ? this.finishTraining(now) : [];
    return { verdict, effects };
  }

  /** A message of the protocol's own exchanges (secure aggregation), under the same rules as an update. */
  receiveMessage(message: ProtocolMessage, now: number): { verdict: Verdict; effects: RoundEffect[] } {
    if (message.round !== this.round) {
      return refuse(
        'stale-round',
        `message is for round ${message.round}, but round ${this.round} is the current round (${this.phase})`,
      );
    }
    if (this.phase !== 'training' || !this.protocol) {
      return refuse('stale-round', `round ${this.round} is ${this.phase}, not exchanging protocol messages`);
    }
    if (!this.participants.includes(message.clientId)) {
      return refuse('not-selected', `${message.clientId} was not selected for round ${this.round}`);
    }
    if (!this.protocol.receiveMessage) {
      return refuse(
        'invalid-message',
        `round ${this.round} runs the ${this.protocol.name} protocol, which takes no '${message.body.type}' messages`,
      );
    }
    const verdict = this.protocol.receiveMessage(message);
    const effects = this.protocol.settled() ? this.finishTraining(now) : [];
    return { verdict, effects };
  }

  /** The protocol moved on its own (a stage closed, it finished or aborted): finish training once it settled. */
  protocolChanged(now: number): RoundEffect[] {
    return this.phase === 'training' && this.protocol?.settled() ? this.finishTraining(now) : [];
  }

  /** A client disconnected: it no longer counts as available, and a participant is not waited for. */
  drop(clientId: string, now: number): RoundEffect[] {
    const effects = this.setAvailable(
      this.available.filter((c) => c !== clientId),
      now,
    );
    if (
      this.phase === 'training' &&
      this.protocol &&
      this.participants.includes(clientId) &&
      this.protocol.drop(clientId)
    ) {
      this.dropped.add(clientId);
      if (this.protocol.settled()) return [...effects, ...this.finishTraining(now)];
    }
    return effects;
  }

  /**
   * A participant's update was unusable (non-finite values, wrong size): it is out of this
   * round, and the round stops waiting for it.
   */
  refuse(clientId: string, round: number, reason: string, now: number): RoundEffect[] {
    if (this.phase !== 'training' || round !== this.round || !this.protocol || !this.participants.includes(clientId))
      return [];
    if (!this.protocol.drop(clientId)) return [];
    this.refused.set(clientId, reason);
    return this.protocol.settled() ? this.finishTraining(now) : [];
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
    return this.protocol.begin(chosen).map((message) => ({ type: 'send' as const, message }));
  }

  private finishTraining(now: number): RoundEffect[] {
    const protocol = this.protocol!;
    const failure = protocol.failure?.();
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

  private enter(phase: RoundPhase, now: number, deadline: number | undefined): void {
    this.phase = phase;
    this.deadline = deadline;
    this.enteredAt[phase] = now;
  }

  private expect(phase: RoundPhase, action: string): void {
    if (this.phase !== phase) throw new Error(`cannot ${action} round ${this.round} in phase ${this.phase}`);
  }
}

function refuse(code: ErrorCode, message: string): { verdict: Verdict; effects: RoundEffect[] } {
  return { verdict: { ok: false, code, message }, effects: [] };
}

function unreachable(phase: never): never {
  throw new Error(`unknown round phase ${String(phase)}`);
}
