import { describe, expect, it } from 'vitest';
import { parseAuditConfig } from '../../../simulations/audit/config.js';
import { auditTable, violations } from '../../../simulations/audit/report.js';
import type { AuditOutcome } from '../../../simulations/audit/run.js';

const config = parseAuditConfig(
  {
    name: 'report',
    dimension: 64,
    honestClients: 4,
    canaries: 64,
    rounds: 3,
    samplingRate: 0.5,
    honestUpdateNorm: 1,
    canaryUpdateNorm: 10,
    guesses: { in: 10, out: 10 },
    delta: 1e-5,
    privacy: { mode: 'central', clipNorm: 1, targetEpsilon: 100 },
    runs: [{ label: 'z = 1', noiseMultiplier: 1 }],
  },
  'test',
);

function outcome(label: string, reportedEpsilon: number | null, epsilonLowerBound: number): AuditOutcome {
  return {
    label,
    noiseMultiplier: reportedEpsilon === null ? null : 1,
    reportedEpsilon,
    delta: 1e-5,
    rounds: 3,
    samplingRate: 0.5,
    canaries: 64,
    included: 30,
    guesses: 20,
    correct: 18,
    epsilonLowerBound,
    wallMs: 1200,
  };
}

describe('audit report', () => {
  it('flags a run whose lower bound exceeds its reported epsilon, and only that run', () => {
    const ok = outcome('fine', 3, 1.2);
    const leaky = outcome('leaky', 0.5, 1.2);
    const off = outcome('off', null, 4);
    expect(violations([ok, leaky, off])).toEqual([leaky]);
    const table = auditTable(config, [ok, leaky, off]);
    expect(table).toContain('| fine | 1 | 3.00 | 3 x q = 0.5 | 64 (30 in) | 1.20 | 20 | 18 | yes | 1.2 s |');
    expect(table).toContain(
      '| leaky | 1 | 0.50 | 3 x q = 0.5 | 64 (30 in) | 1.20 | 20 | 18 | **NO: leaks more than reported** | 1.2 s |',
    );
    expect(table).toContain(
      '| off | off | none (no DP) | 3 x q = 0.5 | 64 (30 in) | 4.00 | 20 | 18 | power check | 1.2 s |',
    );
    expect(table.split('\n')[0]).toContain('reported epsilon (delta 1e-5)');
  });
});
