import type { AuditConfig } from './config.js';
import type { AuditOutcome } from './run.js';

/** A DP run whose empirical lower bound exceeds the accountant's epsilon: the implementation leaks more than it reports. */
export function violations(outcomes: readonly AuditOutcome[]): AuditOutcome[] {
  return outcomes.filter((o) => o.reportedEpsilon !== null && o.epsilonLowerBound > o.reportedEpsilon);
}

function verdict(o: AuditOutcome): string {
  if (o.reportedEpsilon === null) return 'power check';
  return o.epsilonLowerBound <= o.reportedEpsilon ? 'yes' : '**NO: leaks more than reported**';
}

/** 1e-5 rather than 0.00001. */
function formatDelta(delta: number): string {
  return delta < 1e-3 ? delta.toExponential() : String(delta);
}

export function auditTable(config: AuditConfig, outcomes: readonly AuditOutcome[]): string {
  const confidence = `${Math.round(config.confidence * 1000) / 10}%`;
  const rows = outcomes.map((o) =>
    [
      o.label,
      o.noiseMultiplier === null ? 'off' : String(o.noiseMultiplier),
      o.reportedEpsilon === null ? 'none (no DP)' : o.reportedEpsilon.toFixed(2),
      `${o.rounds} x q = ${o.samplingRate}`,
      `${o.canaries} (${o.included} in)`,
      o.epsilonLowerBound.toFixed(2),
      String(o.guesses),
      String(o.correct),
      verdict(o),
      `${(o.wallMs / 1000).toFixed(1)} s`,
    ].join(' | '),
  );
  return [
    `| run | z | reported epsilon (delta ${formatDelta(config.delta)}) | rounds x sampling | canaries | empirical epsilon lower bound (${confidence}) | guesses | correct | bound <= reported | wall time |`,
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

export function auditSummary(
  config: AuditConfig,
  outcomes: readonly AuditOutcome[],
  command: string,
  wallMs: number,
): string {
  const dp = config.runs.find((r) => r.mechanism.kind === 'dp');
  const privacy = dp?.mechanism.kind === 'dp' ? dp.mechanism.privacy : undefined;
  const clip =
    privacy === undefined
      ? ''
      : privacy.clipping.kind === 'fixed'
        ? `, clip norm ${privacy.clipping.clipNorm}`
        : ', adaptive clip norm';
  const broken = violations(outcomes);
  return [
    `# Privacy audit: ${config.name}`,
    '',
    ...(config.description ? [config.description, ''] : []),
    `Canary audit after Steinke, Nasr and Jagielski 2023 ("Privacy Auditing with One (1) Training Run"): ` +
      `${config.canaries} canaries (update norm ${config.canaryUpdateNorm}, orthogonal directions), each in the population with probability 1/2, ` +
      `${config.honestClients} honest clients (update norm ~${config.honestUpdateNorm}), updates of ${config.dimension} values` +
      `${privacy ? `, ${privacy.mode} DP${clip}` : ''}. The auditor sees the global models only, scores each canary by the inner product of ` +
      `the model's total change with its direction, guesses the top ${config.guesses.in} in and the bottom ${config.guesses.out} out, and converts ` +
      `the correct guesses into an epsilon lower bound at delta ${formatDelta(config.delta)} (seed ${config.seed}).`,
    '',
    auditTable(config, outcomes),
    '',
    broken.length === 0
      ? 'No run released more than its accountant reports.'
      : `VIOLATION: ${broken.map((o) => `'${o.label}'`).join(', ')} leak more than the accountant reports.`,
    '',
    `Reproduce: \`${command}\` (wall time ${(wallMs / 1000).toFixed(1)} s).`,
    '',
  ].join('\n');
}
