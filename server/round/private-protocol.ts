import type { Aggregator, ClientUpdate } from '../../shared/aggregation/types.js';
import { assertValidUpdates } from '../../shared/aggregation/validate.js';
import { clipIndicator } from '../../shared/privacy/adaptive-clipping.js';
import { clipToL2Norm } from '../../shared/privacy/clipping.js';
import type { PrivacyRuntime, PrivateRoundPlan } from '../privacy-runtime.js';
import type {
  AggregationProtocol,
  Inbound,
  Outbound,
  ProtocolEffect,
  ProtocolFactory,
  RoundAggregate,
  Verdict,
} from './aggregation-protocol.js';

/**
 * Differential privacy around any aggregation protocol, the one place a round's DP is planned and
 * charged: the plan is fixed when the round selects and handed to the inner protocol, which sends
 * its instructions with every training task and sums the updates unweighted (DP-FedAvg weighs every
 * client alike: the sensitivity of the sum is the clip norm); the decorator charges what the
 * coordinator learns (each update in the clear, or the unmasked secure sum) and turns the sum into
 * the noisy mean.
 */

/** The plain sum of the updates: what DP adds its noise to. */
export class SumAggregator implements Aggregator {
  readonly name = 'sum';
  readonly linear = true;

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const m = assertValidUpdates(updates);
    const acc = new Float64Array(m);
    for (const u of updates) for (let i = 0; i < m; i++) acc[i] += u.delta[i];
    return Float32Array.from(acc);
  }
}

export interface PrivateProtocolOptions {
  /**
   * The inner protocol hands over each update in the clear (plaintext upload): each is charged as
   * it arrives, and in central mode the coordinator clips it again, so a client that skips clipping
   * gains no extra influence. False under secure aggregation: its messages pass through untouched.
   */
  updatesInTheClear: boolean;
}

export class PrivateProtocol implements AggregationProtocol {
  private readonly indicators = new Map<string, number>();
  private clipped = 0;

  constructor(
    private readonly inner: AggregationProtocol,
    private readonly plan: PrivateRoundPlan,
    private readonly runtime: PrivacyRuntime,
    private readonly options: PrivateProtocolOptions,
  ) {}

  get name(): string {
    return `${this.inner.name}+dp-${this.plan.instructions.mode}`;
  }

  get stage(): string {
    return this.inner.stage;
  }

  get deadline(): number | undefined {
    return this.inner.deadline;
  }

  begin(participants: readonly string[], now: number): Outbound[] {
    return this.inner.begin(participants, now);
  }

  receive(message: Inbound): Verdict {
    // Secure aggregation keeps its own exchanges (and refuses plaintext updates): passed through as they are.
    if (message.kind !== 'update' || !this.options.updatesInTheClear) return this.inner.receive(message);
    const { mode, clipNorm, indicatorNoiseStd } = this.plan.instructions;
    const adaptive = indicatorNoiseStd !== null;
    const reported = message.meta.clipIndicator;
    let delta = message.delta;
    let indicator: number | undefined;
    let wasClipped = false;
    if (mode === 'central') {
      const clip = clipToL2Norm(delta, clipNorm);
      delta = clip.clipped;
      wasClipped = !clip.withinClipNorm;
      // An update over the norm was not clipped by its client: it counts as clipped whatever it claims.
      if (adaptive)
        indicator =
          clip.withinClipNorm && reported !== undefined
            ? Math.sign(reported) * clipIndicator(true)
            : clipIndicator(clip.withinClipNorm);
    } else if (adaptive) {
      if (reported === undefined) {
        return {
          ok: false,
          code: 'invalid-message',
          message: 'adaptive clipping is on: the update must carry its clipIndicator',
        };
      }
      indicator = reported;
    }
    try {
      this.runtime.received(this.plan);
    } catch (e) {
      return {
        ok: false,
        code: 'invalid-message',
        message: `the coordinator could not record this update's privacy charge, so it cannot take it: ${(e as Error).message}`,
      };
    }
    const verdict = this.inner.receive({ ...message, delta });
    if (verdict.ok) {
      if (indicator !== undefined) this.indicators.set(message.clientId, indicator);
      if (wasClipped) this.clipped++;
    }
    return verdict;
  }

  drop(clientId: string): boolean {
    return this.inner.drop(clientId);
  }

  advance(now: number): ProtocolEffect[] {
    return this.inner.advance(now);
  }

  failure(): string | undefined {
    return this.inner.failure();
  }

  details(now: number): ReturnType<AggregationProtocol['details']> {
    return this.inner.details(now);
  }

  contributors(): number {
    return this.inner.contributors();
  }

  settled(): boolean {
    return this.inner.settled();
  }

  aggregate(): RoundAggregate {
    const { indicatorSum: summedUnseen, ...sum } = this.inner.aggregate();
    const adaptive = this.plan.instructions.indicatorNoiseStd !== null;
    const { meanUpdate, record } = this.runtime.finish(this.plan, {
      contributors: sum.contributions.length,
      updateSum: sum.delta,
      indicatorSum: adaptive ? (summedUnseen ?? this.indicatorSum(sum.contributions)) : null,
      ...(this.options.updatesInTheClear && this.plan.instructions.mode === 'central'
        ? { clippedUpdates: this.clipped }
        : {}),
    });
    return { ...sum, delta: meanUpdate, privacy: record };
  }

  /** The clip indicators the contributors sent with their updates in the clear. */
  private indicatorSum(contributions: readonly { clientId: string }[]): number {
    let total = 0;
    for (const c of contributions) {
      const b = this.indicators.get(c.clientId);
      if (b === undefined) throw new Error(`no clip indicator from contributor ${c.clientId}`);
      total += b;
    }
    return total;
  }
}

/**
 * Wraps a protocol factory with differential privacy (or returns it unchanged without a runtime).
 * The inner protocol gets a summing aggregator; its plan is fixed when the round selects.
 */
export function withPrivacy(
  factory: ProtocolFactory,
  runtime: PrivacyRuntime | undefined,
  options: PrivateProtocolOptions,
): ProtocolFactory {
  if (!runtime) return factory;
  return (ctx) => {
    const plan = runtime.plan(ctx.round, ctx.population ?? 0);
    const privacy = { plan, unmasked: (contributors: number) => void runtime.unmasked(plan, contributors) };
    return new PrivateProtocol(factory({ ...ctx, aggregator: new SumAggregator(), privacy }), plan, runtime, options);
  };
}
