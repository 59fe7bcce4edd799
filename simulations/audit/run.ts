/**
 * One audit run: honest clients and the included canaries go through the coordinator's own
 * aggregation path for the configured rounds (with DP: Poisson sampling, the clients' clipping and
 * noise shares, the plain sum, the controller's noise, mean and ledger charge; without: the
 * strategy's sampler and weighted mean), and the server optimizer turns each release into the next
 * global model. The auditor then sees only the successive global models, scores every canary by
 * the inner product of the model's total change with the canary's direction, guesses, and turns
 * the guesses into an empirical epsilon lower bound.
 */
import { createStrategy, parseStrategyConfig } from '../../shared/aggregation/strategy.js';
import type { ClientUpdate } from '../../shared/aggregation/types.js';
import { privatizeUpdate } from '../../shared/privacy/client-privatize.js';
import { PrivacyController } from '../../shared/privacy/controller.js';
import { GaussianSampler, seededRandomWords } from '../../shared/privacy/gaussian.js';
import { PoissonSampler } from '../../shared/privacy/poisson-sampler.js';
import type { PrivacyConfig } from '../../shared/privacy/config.js';
import { deriveSeed } from '../../shared/random-distributions.js';
import { seededRng } from '../../shared/random.js';
import { SumAggregator } from '../../server/round/private-protocol.js';
import { canaryDirections, project } from './canaries.js';
import type { AuditConfig, AuditRun } from './config.js';
import { epsilonLowerBound } from './epsilon-bound.js';

export interface AuditOutcome {
  label: string;
  /** z; null with DP off. */
  noiseMultiplier: number | null;
  /** The accountant's epsilon after the run at the configured delta; null with DP off (no guarantee). */
  reportedEpsilon: number | null;
  delta: number;
  rounds: number;
  samplingRate: number;
  canaries: number;
  /** Canaries that were in the population (each with probability 1/2). */
  included: number;
  guesses: number;
  correct: number;
  /** At the configured confidence and delta. */
  epsilonLowerBound: number;
  wallMs: number;
}

export interface AuditRunOptions {
  /** The coordinator's noise source; seeded from the config by default (tests may substitute one). */
  noise?: GaussianSampler;
}

// Independent random streams derived from the config's seed.
const STREAM = { directions: 1, inclusion: 2, honest: 3, sampling: 4, noise: 5, clientNoise: 6 } as const;

/** Every client counts alike: DP-FedAvg ignores example counts, and equal counts make the weighted mean the plain mean. */
const EXAMPLES_PER_CLIENT = 1;

function seededGaussian(seed: number, stream: number): GaussianSampler {
  return new GaussianSampler(seededRandomWords(deriveSeed(seed, stream)));
}

interface Population {
  ids: string[];
  /** Update of a client in a round: fresh noise for honest clients, the fixed crafted update for canaries. */
  update(id: string): Float32Array;
}

function population(
  config: AuditConfig,
  directions: readonly Float32Array[],
  included: readonly boolean[],
): Population {
  const honest = seededGaussian(config.seed, STREAM.honest);
  const coordinateStd = config.honestUpdateNorm / Math.sqrt(config.dimension);
  const canaryUpdates = new Map<string, Float32Array>();
  directions.forEach((u, j) => {
    if (included[j])
      canaryUpdates.set(
        canaryId(j),
        u.map((v) => v * config.canaryUpdateNorm),
      );
  });
  const ids = [
    ...Array.from({ length: config.honestClients }, (_, i) => `honest-${String(i).padStart(5, '0')}`),
    ...canaryUpdates.keys(),
  ];
  return {
    ids,
    update(id) {
      const canary = canaryUpdates.get(id);
      if (canary) return canary;
      const delta = new Float32Array(config.dimension);
      for (let i = 0; i < delta.length; i++) delta[i] = coordinateStd * honest.standardNormal();
      return delta;
    },
  };
}

function canaryId(j: number): string {
  return `canary-${String(j).padStart(5, '0')}`;
}

/** A released model change: what one round's aggregate made of the global model. */
type RoundRelease = (round: number) => { release: Float32Array; reportedEpsilon: number | null };

function privateRounds(
  config: AuditConfig,
  label: string,
  privacy: PrivacyConfig,
  people: Population,
  options: AuditRunOptions,
): RoundRelease {
  const controller = new PrivacyController(privacy);
  const sampler = new PoissonSampler({ rate: config.samplingRate, seed: deriveSeed(config.seed, STREAM.sampling) });
  const noise = options.noise ?? seededGaussian(config.seed, STREAM.noise);
  const clientNoise = seededGaussian(config.seed, STREAM.clientNoise);
  const sum = new SumAggregator();
  return (round) => {
    const expectedContributors = sampler.expectedCount(people.ids.length);
    const plan = controller.beginRound({ round, samplingRate: config.samplingRate, expectedContributors });
    if (!plan.allowed)
      throw new Error(
        `run '${label}' stopped at round ${round + 1} of ${config.rounds}: ${plan.reason}; raise privacy.targetEpsilon`,
      );
    const updates: ClientUpdate[] = [];
    let indicatorSum: number | null = plan.instructions.indicatorNoiseStd === null ? null : 0;
    // The coordinator's clip on arrival (central mode, plaintext uploads) is a no-op here: every client clips itself.
    for (const id of sampler.select(people.ids, round)) {
      const sent = privatizeUpdate(people.update(id), plan.instructions, clientNoise);
      updates.push({ clientId: id, delta: sent.update, numExamples: EXAMPLES_PER_CLIENT });
      if (indicatorSum !== null && sent.clipIndicator !== null) indicatorSum += sent.clipIndicator;
    }
    // An empty Poisson draw releases noise only (and is charged), so the release never depends on the sample size.
    const updateSum = updates.length > 0 ? sum.aggregate(updates) : new Float32Array(config.dimension);
    const finished = controller.finishRound(
      {
        round,
        samplingRate: config.samplingRate,
        expectedContributors,
        contributors: updates.length,
        updateSum,
        indicatorSum,
      },
      noise,
    );
    return { release: finished.meanUpdate, reportedEpsilon: finished.privacy.epsilon };
  };
}

function plainRounds(config: AuditConfig, people: Population): RoundRelease {
  const strategy = createStrategy(
    parseStrategyConfig({
      sampler: { fraction: config.samplingRate, minClients: 1, seed: deriveSeed(config.seed, STREAM.sampling) },
    }),
  );
  return (round) => {
    const updates = strategy.sampler
      .select(people.ids, round)
      .map((id) => ({ clientId: id, delta: people.update(id), numExamples: EXAMPLES_PER_CLIENT }));
    return { release: strategy.aggregator.aggregate(updates), reportedEpsilon: null };
  };
}

/** Canary indices guessed in (the `in` highest scores) and out (the `out` lowest). */
export function guess(scores: readonly number[], guessIn: number, guessOut: number): { in: number[]; out: number[] } {
  if (guessIn + guessOut > scores.length)
    throw new Error(`cannot make ${guessIn} + ${guessOut} guesses about ${scores.length} canaries`);
  const order = scores.map((_, j) => j).sort((a, b) => scores[b] - scores[a]);
  return { in: order.slice(0, guessIn), out: order.slice(order.length - guessOut) };
}

export function runAudit(config: AuditConfig, run: AuditRun, options: AuditRunOptions = {}): AuditOutcome {
  const started = performance.now();
  const directions = canaryDirections(config.canaries, config.dimension, deriveSeed(config.seed, STREAM.directions));
  const coin = seededRng(deriveSeed(config.seed, STREAM.inclusion));
  const included = directions.map(() => coin() < 0.5);
  const people = population(config, directions, included);
  let rounds: RoundRelease;
  switch (run.mechanism.kind) {
    case 'dp':
      rounds = privateRounds(config, run.label, run.mechanism.privacy, people, options);
      break;
    case 'off':
      rounds = plainRounds(config, people);
      break;
    default: {
      const unknown: never = run.mechanism;
      throw new Error(`unknown audit mechanism ${JSON.stringify(unknown)}`);
    }
  }
  // The server optimizer the coordinator applies (FedAvg's server step, learning rate 1).
  const optimizer = createStrategy(parseStrategyConfig({})).serverOptimizer;
  let model: Float32Array = new Float32Array(config.dimension);
  // The auditor's view: the sum over rounds of each released model's change.
  const observed = new Float64Array(config.dimension);
  let reportedEpsilon: number | null = null;
  for (let round = 0; round < config.rounds; round++) {
    const step = rounds(round);
    const next = optimizer.step(model, step.release);
    for (let i = 0; i < observed.length; i++) observed[i] += next[i] - model[i];
    model = next;
    reportedEpsilon = step.reportedEpsilon;
  }
  const scores = directions.map((u) => project(observed, u));
  const guesses = guess(scores, config.guesses.in, config.guesses.out);
  const correct = guesses.in.filter((j) => included[j]).length + guesses.out.filter((j) => !included[j]).length;
  const r = guesses.in.length + guesses.out.length;
  return {
    label: run.label,
    noiseMultiplier: run.mechanism.kind === 'dp' ? run.mechanism.privacy.noiseMultiplier : null,
    reportedEpsilon,
    delta: config.delta,
    rounds: config.rounds,
    samplingRate: config.samplingRate,
    canaries: config.canaries,
    included: included.filter(Boolean).length,
    guesses: r,
    correct,
    epsilonLowerBound: epsilonLowerBound(
      { canaries: config.canaries, guesses: r, correct, delta: config.delta },
      config.confidence,
    ),
    wallMs: performance.now() - started,
  };
}
