import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readAuditConfig } from './config.js';
import { auditSummary, violations } from './report.js';
import { runAudit, type AuditOutcome } from './run.js';
import { AUDIT_USAGE } from './audit-usage.js';

/** `fedserve audit`: resolves with the exit code. */
export async function auditCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { config: { type: 'string' }, out: { type: 'string' } },
  });
  if (!values.config || !values.out)
    throw new Error(
      `missing ${[!values.config && '--config', !values.out && '--out'].filter(Boolean).join(' and ')}\n\n${AUDIT_USAGE}`,
    );
  const config = readAuditConfig(values.config);
  const command = `fedserve audit --config ${values.config} --out ${values.out}`;
  const started = performance.now();
  process.stderr.write(
    `audit ${config.name}: ${config.runs.length} run(s) x ${config.rounds} rounds, ${config.canaries} canaries, ${config.honestClients} honest clients\n`,
  );
  const outcomes: AuditOutcome[] = [];
  for (const run of config.runs) {
    const outcome = runAudit(config, run);
    process.stderr.write(
      `  ${run.label}: ${outcome.correct}/${outcome.guesses} correct, lower bound ${outcome.epsilonLowerBound.toFixed(2)}\n`,
    );
    outcomes.push(outcome);
  }
  const wallMs = performance.now() - started;
  const summary = auditSummary(config, outcomes, command, wallMs);
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'summary.md'), summary);
  await writeFile(
    join(values.out, 'results.json'),
    `${JSON.stringify({ config: values.config, wallMs, runs: outcomes }, null, 2)}\n`,
  );
  process.stdout.write(summary);
  return violations(outcomes).length === 0 ? 0 : 1;
}
