import type { SecureSlot } from '../shared/protocol/secagg-messages.js';
import type { CoordinatorConfig } from './config.js';
import type { ProtocolFactory } from './round/aggregation-protocol.js';
import {
  SecAggProtocol,
  STAGES_AFTER_TRAINING,
  type SecAggProtocolOptions,
  type SecAggRoundAudit,
  type SecAggTamper,
} from './round/secagg-protocol.js';
import type { SecureAggregationConfig } from './secagg-config.js';
import type { IdentityRegistry } from './secagg-identities.js';

/**
 * Secure aggregation on the live coordinator: the config checks, and the protocol factory that
 * opens a SecAgg+ round for every training round, with or without differential privacy (planned
 * and charged by the decorator around it, private-protocol.ts; this only shapes the secure sum).
 *
 * Without privacy the sum is example-weighted (FedAvg) and also carries each client's training
 * loss and accuracy, so the coordinator learns only their weighted means. With privacy every
 * client weighs the same (DP-FedAvg sums clipped updates: the sensitivity is the clip norm), no
 * example count, loss or accuracy is summed (their exact sums are not covered by the accountant),
 * and the privacy decorator turns the plain sum into the noisy mean; with adaptive clipping the clip
 * indicators are summed securely too.
 */

/** Training losses above this are clipped in the secure sum of losses. */
export const LOSS_RANGE = 100;
/** A Gaussian value beyond 8 standard deviations (probability ~1e-15) is clipped. */
const NOISE_SIGMAS = 8;

/** Refuses, naming the fix, a config secure aggregation cannot run with. */
export function checkSecureAggregationConfig(config: CoordinatorConfig): void {
  const secure = config.secureAggregation;
  if (!secure.enabled) return;
  const sampler = config.strategy.sampler;
  if (sampler.minClients < 3) {
    throw new Error(
      `secure aggregation needs at least 3 clients per round (one client's update would be the sum); ` +
        `strategy.sampler.minClients is ${sampler.minClients}: raise it (--min-clients 3) or turn secure aggregation off`,
    );
  }
  const budget = STAGES_AFTER_TRAINING * secure.phaseTimeoutMs;
  if (config.rounds.trainingTimeoutMs <= budget) {
    throw new Error(
      `rounds.trainingTimeoutMs (${config.rounds.trainingTimeoutMs}) must exceed ${STAGES_AFTER_TRAINING} x secureAggregation.phaseTimeoutMs (${budget}): ` +
        'sharing keys, sending masked updates, the consistency check and unmasking get a phase timeout each inside the training deadline, and clients train in what is left',
    );
  }
}

export interface SecureFactoryOptions {
  config: SecureAggregationConfig;
  identities: Pick<IdentityRegistry, 'keyOf'>;
  /** Audit mode: a recorder per round. */
  audit?: (round: number) => SecAggRoundAudit;
  /** Tests only: a coordinator that tampers with what it sends. */
  tamper?: SecAggTamper;
  /** compression.codec int8: masked value words shrink to 16 bits when the round's size allows. */
  smallWords?: boolean;
  log: (line: string) => void;
}

export function secureProtocolFactory(o: SecureFactoryOptions): ProtocolFactory {
  const { config, identities } = o;
  return (ctx) => {
    const base: SecAggProtocolOptions = {
      graph: {
        ...(config.k !== undefined ? { k: config.k } : {}),
        ...(config.threshold !== undefined ? { threshold: config.threshold } : {}),
      },
      clip: config.clip,
      maxWeight: config.maxWeight,
      phaseTimeoutMs: config.phaseTimeoutMs,
      slots: [
        { kind: 'loss', range: LOSS_RANGE },
        { kind: 'accuracy', range: 1 },
      ],
      identityOf: (id) => identities.keyOf(id),
      ...(o.smallWords ? { smallWords: true } : {}),
      ...(o.audit ? { audit: o.audit(ctx.round) } : {}),
      ...(o.tamper ? { tamper: o.tamper } : {}),
      log: o.log,
    };
    if (!ctx.privacy) return new SecAggProtocol(ctx, base);

    const { clipNorm, updateNoiseStd, indicatorNoiseStd } = ctx.privacy.plan.instructions;
    // Only what the accountant covers is summed: the noised update and noised clip indicators.
    // Exact sums of example counts, losses and accuracies would reach the coordinator un-noised.
    const slots: SecureSlot[] =
      indicatorNoiseStd === null ? [] : [{ kind: 'clip-indicator', range: 0.5 + NOISE_SIGMAS * indicatorNoiseStd }];
    return new SecAggProtocol(ctx, {
      ...base,
      // A clipped, noised coordinate stays within C + 8 sigma (each coordinate of a vector of L2 norm C is at most C).
      clip: Math.max(config.clip, clipNorm + NOISE_SIGMAS * updateNoiseStd),
      maxWeight: 1,
      slots,
    });
  };
}
