import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { ProgressStream } from '../../client/progress.js';
import { TrainerPool } from '../../client/trainer-pool.js';
import { describeCodec } from '../../shared/compression/codec-spec.js';
import { isBackendName, setupBackend, type BackendName } from '../../shared/engine/backend.js';
import { PrivacyStatusSchema, RoundRecordSchema, type RoundRecord } from '../../shared/protocol/rounds.js';
import { readLabConfig, type LabConfig } from './config.js';
import { buildPopulation, type Population } from './population.js';
import { LabProgress } from './progress.js';
import { classesCsv, partitionsCsv, plotSvg, roundsCsv, summaryMarkdown } from './report.js';
import { coordinatorConfigFor, runOnce, strategyName, validateRuns, type RunOutcome } from './run.js';
import { SIMULATE_USAGE } from './simulate-usage.js';
import { errorMessage } from '../../shared/error-message.js';

export interface SimulateOptions {
  backend?: BackendName;
  progress: ProgressStream;
}

const SavedRunSchema = z.object({
  label: z.string(),
  strategy: z.string(),
  // Absent in runs.json written before compression: those runs sent float32.
  codec: z.string().default('float32'),
  float32UpdateBytes: z.number().positive().optional(),
  records: z.array(RoundRecordSchema),
  stoppedEarly: z.string().optional(),
  privacy: PrivacyStatusSchema.optional(),
  wallMs: z.number(),
});

function slug(label: string): string {
  return (
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'run'
  );
}

/**
 * Runs every run of the experiment one after another over the same population, writing the CSV,
 * summary and plot after each run so partial results survive an interrupted simulation.
 */
export async function simulate(config: LabConfig, outDir: string, options: SimulateOptions): Promise<RunOutcome[]> {
  validateRuns(config);
  const population = await buildPopulation(config);
  await mkdir(join(outDir, 'logs'), { recursive: true });
  await writeFile(join(outDir, 'partitions.csv'), partitionsCsv(population));
  const progress = new LabProgress(options.progress, config.runs.length * config.rounds);
  const pool = new TrainerPool({
    size: config.workers ?? availableParallelism(),
    ...(options.backend ? { backend: options.backend } : {}),
  });
  const outcomes: RunOutcome[] = [];
  // Partial writes run one after another and before the run's final write.
  let writing = Promise.resolve();
  try {
    for (const [i, run] of config.runs.entries()) {
      progress.startRun(run.label, i, config.runs.length);
      const started = performance.now();
      const records: RoundRecord[] = [];
      const strategy = strategyName(config, run);
      const codec = describeCodec(coordinatorConfigFor(config, run, '.').compression);
      const outcome = await runOnce(config, run, population, pool, (r) => {
        progress.round(r, config.rounds);
        // The tables so far after every round, so a long run stopped midway still leaves its results.
        records.push(r);
        const partial: RunOutcome = {
          label: run.label,
          strategy,
          codec,
          records: [...records],
          wallMs: performance.now() - started,
          log: [],
        };
        writing = writing
          .then(() => writeReports(config, population, [...outcomes, partial], outDir))
          .catch((e: unknown) => progress.line(`cannot write partial results: ${errorMessage(e)}`));
      });
      await writing;
      progress.skip(config.rounds - outcome.records.length);
      if (outcome.stoppedEarly)
        progress.line(`${run.label}: stopped after ${outcome.records.length} round(s): ${outcome.stoppedEarly}`);
      outcomes.push(outcome);
      await writeFile(
        join(outDir, 'logs', `${String(i + 1).padStart(2, '0')}-${slug(run.label)}.log`),
        `${outcome.log.join('\n')}\n`,
      );
      // Every round record in full, for analyses the CSV does not cover and for --render-only.
      await writeFile(join(outDir, 'runs.json'), `${JSON.stringify(outcomes.map(({ log: _log, ...rest }) => rest))}\n`);
      await writeReports(config, population, outcomes, outDir);
    }
  } finally {
    await pool.close();
  }
  return outcomes;
}

async function writeReports(
  config: LabConfig,
  population: Population,
  outcomes: readonly RunOutcome[],
  outDir: string,
): Promise<void> {
  await writeFile(join(outDir, 'rounds.csv'), roundsCsv(outcomes));
  await writeFile(join(outDir, 'classes.csv'), classesCsv(outcomes));
  await writeFile(join(outDir, 'summary.md'), summaryMarkdown(config, population, outcomes));
  if (outcomes.some((o) => o.records.length > 0))
    await writeFile(join(outDir, 'plot.svg'), plotSvg(config, population, outcomes));
}

/** Rewrites the CSV, summary and plot of an earlier simulation from its runs.json. */
export async function renderResults(config: LabConfig, outDir: string): Promise<RunOutcome[]> {
  const path = join(outDir, 'runs.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot re-render: ${path} is missing or not JSON (${(e as Error).message})`);
  }
  const parsed = z.array(SavedRunSchema).safeParse(raw);
  if (!parsed.success)
    throw new Error(`cannot re-render: ${path} does not hold simulation runs:\n${z.prettifyError(parsed.error)}`);
  const outcomes: RunOutcome[] = parsed.data.map((o) => ({ ...o, log: [] }));
  await writeReports(config, await buildPopulation(config), outcomes, outDir);
  return outcomes;
}

/** `fedserve simulate`: resolves with the exit code. */
export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      out: { type: 'string' },
      backend: { type: 'string' },
      'render-only': { type: 'boolean', default: false },
    },
  });
  if (!values.config || !values.out)
    throw new Error(
      `missing ${[!values.config && '--config', !values.out && '--out'].filter(Boolean).join(' and ')}\n\n${SIMULATE_USAGE}`,
    );
  if (values.backend !== undefined && !isBackendName(values.backend))
    throw new Error(`--backend must be tensorflow, wasm or cpu, got '${values.backend}'`);
  const config = readLabConfig(values.config);
  if (values['render-only']) {
    await renderResults(config, values.out);
    process.stdout.write(await readFile(join(values.out, 'summary.md'), 'utf8'));
    return 0;
  }
  const backend = await setupBackend(values.backend, { log: () => undefined });
  const started = performance.now();
  const out = process.stderr;
  out.write(
    `simulation ${config.name}: ${config.runs.length} run(s) x ${config.rounds} rounds, ${config.clients} clients, backend ${backend}; writing to ${values.out}\n`,
  );
  const outcomes = await simulate(config, values.out, { backend, progress: out });
  out.write(
    `done in ${((performance.now() - started) / 1000).toFixed(0)}s: ${join(values.out, 'summary.md')}, rounds.csv, plot.svg\n\n`,
  );
  process.stdout.write(await readFile(join(values.out, 'summary.md'), 'utf8'));
  return outcomes.every((o) => o.records.length > 0 && o.records.every((r) => r.status === 'committed')) ? 0 : 1;
}
