import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../../shared/engine/backend.js';
import { parseLabConfig, type LabConfig } from '../../simulations/lab/config.js';
import { buildPopulation } from '../../simulations/lab/population.js';
import { CLASS_CSV_COLUMNS, CSV_COLUMNS } from '../../simulations/lab/report.js';
import { renderResults, simulate } from '../../simulations/lab/simulate.js';
import { niceTicks } from '../../simulations/lab/svg-plot.js';

/**
 * The lab end to end on a tiny experiment: 3 socket.io clients on 240 partitioned MNIST digits,
 * 2 rounds, two runs (FedAvg and a coordinate-wise median, one client flipping signs), then FedAvg again.
 */

const raw = {
  name: 'tiny-lab',
  seed: 11,
  data: { trainExamples: 240, testExamples: 150, clientHeldOut: 0.25 },
  clients: 3,
  partition: { kind: 'dirichlet', alpha: 0.5, minPartitionSize: 30 },
  rounds: 2,
  workers: 2,
  byzantine: { fraction: 0.34, attack: { kind: 'sign-flip', scale: 3 } },
  runs: [
    { label: 'FedAvg', strategy: {} },
    { label: 'Median', strategy: { aggregator: { kind: 'median' } } },
  ],
};

const dirs: string[] = [];
const silent = { write: () => true, isTTY: false };

beforeAll(async () => {
  await setupBackend('wasm', { log: () => undefined });
});

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function runLab(config: LabConfig): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'fedserve-lab-'));
  dirs.push(out);
  await simulate(config, out, { backend: 'wasm', progress: silent });
  return out;
}

function parseCsv(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split('\n');
  const columns = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [columns[i], v])));
}

/** The cell as a number; fails on an empty or non-numeric cell (Number('') would be 0). */
function numberIn(row: Record<string, string>, column: string): number {
  expect(row[column], column).toMatch(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/);
  return Number(row[column]);
}

describe('simulation lab', () => {
  it('the same config and seed give the same partitions, and another seed does not', async () => {
    const config = parseLabConfig(raw, 'test');
    const a = await buildPopulation(config);
    const b = await buildPopulation(config);
    expect(a.clients.map((c) => c.id)).toEqual(['sim-0', 'sim-1', 'sim-2']);
    for (let i = 0; i < a.clients.length; i++) {
      expect(Array.from(b.clients[i].train.y)).toEqual(Array.from(a.clients[i].train.y));
      expect(b.clients[i].train.x).toEqual(a.clients[i].train.x);
      expect(Array.from(b.clients[i].heldOut!.y)).toEqual(Array.from(a.clients[i].heldOut!.y));
      expect(b.clients[i].attack?.name).toBe(a.clients[i].attack?.name);
    }
    expect(a.clients.filter((c) => c.attack)).toHaveLength(1);
    const total = a.clients.reduce((s, c) => s + c.train.n + c.heldOut!.n, 0);
    expect(total).toBe(240);
    const other = await buildPopulation(parseLabConfig({ ...raw, seed: 12 }, 'test'));
    expect(other.clients.map((c) => Array.from(c.classCounts))).not.toEqual(
      a.clients.map((c) => Array.from(c.classCounts)),
    );
  });

  it('writes the CSV, SVG plot and markdown summary, and a rerun repeats the first round exactly', async () => {
    const config = parseLabConfig(raw, 'test');
    const first = await runLab(config);
    // The rerun needs only the first run: runs are independent (a fresh coordinator each).
    const second = await runLab({ ...config, runs: config.runs.slice(0, 1) });

    const rows = parseCsv(await readFile(join(first, 'rounds.csv'), 'utf8'));
    expect(Object.keys(rows[0])).toEqual([...CSV_COLUMNS]);
    expect(rows.map((r) => `${r.run}/${r.round}/${r.status}`)).toEqual([
      'FedAvg/1/committed',
      'FedAvg/2/committed',
      'Median/1/committed',
      'Median/2/committed',
    ]);
    expect(rows.map((r) => r.strategy)).toEqual(['fedavg', 'fedavg', 'fedavg+median', 'fedavg+median']);
    for (const r of rows) {
      expect(numberIn(r, 'accuracy')).toBeGreaterThanOrEqual(0);
      expect(numberIn(r, 'accuracy')).toBeLessThanOrEqual(1);
      expect(numberIn(r, 'loss')).toBeGreaterThan(0);
      // Every client holds a held-out split, so each round is also scored on the clients.
      expect(numberIn(r, 'federated_accuracy')).toBeGreaterThanOrEqual(0);
      expect(numberIn(r, 'federated_accuracy')).toBeLessThanOrEqual(1);
      expect(r.clients).toBe('3');
      expect(numberIn(r, 'duration_s')).toBeGreaterThan(0);
      expect(r.epsilon).toBe('');
    }

    const again = parseCsv(await readFile(join(second, 'rounds.csv'), 'utf8'));
    const [a, b] = [rows[0], again[0]];
    expect([a.run, a.round, b.run, b.round]).toEqual(['FedAvg', '1', 'FedAvg', '1']);
    for (const column of ['accuracy', 'loss', 'federated_accuracy', 'federated_loss', 'train_loss', 'examples'])
      expect(b[column]).toBe(a[column]);
    expect(await readFile(join(second, 'partitions.csv'), 'utf8')).toBe(
      await readFile(join(first, 'partitions.csv'), 'utf8'),
    );

    // Per-class metrics of each round, held-out (150 digits) and federated (the clients' summed matrices).
    const classes = parseCsv(await readFile(join(first, 'classes.csv'), 'utf8'));
    expect(Object.keys(classes[0])).toEqual([...CLASS_CSV_COLUMNS]);
    const heldOutRound1 = classes.filter((c) => c.run === 'FedAvg' && c.round === '1' && c.evaluation === 'held-out');
    expect(heldOutRound1.map((c) => c.class)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(heldOutRound1.reduce((s, c) => s + numberIn(c, 'support'), 0)).toBe(150);
    const recallWeighted = heldOutRound1.reduce((s, c) => s + numberIn(c, 'recall') * numberIn(c, 'support'), 0) / 150;
    expect(recallWeighted).toBeCloseTo(Number(rows[0].accuracy), 4);
    const federatedRound1 = classes.filter(
      (c) => c.run === 'FedAvg' && c.round === '1' && c.evaluation === 'federated',
    );
    const runs = JSON.parse(await readFile(join(first, 'runs.json'), 'utf8')) as {
      label: string;
      records: { round: number; federatedEvaluation: { numExamples: number } }[];
    }[];
    expect(federatedRound1.reduce((s, c) => s + numberIn(c, 'support'), 0)).toBe(
      runs[0].records[0].federatedEvaluation.numExamples,
    );
    expect(runs[0].records[0].federatedEvaluation.numExamples).toBeGreaterThan(50);

    expect(runs.map((r) => [r.label, r.records.map((x) => x.round)])).toEqual([
      ['FedAvg', [1, 2]],
      ['Median', [1, 2]],
    ]);

    const svg = await readFile(join(first, 'plot.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // Two panels (accuracy, loss) with one line per run.
    expect(svg.match(/<path /g)).toHaveLength(4);
    expect(svg).toContain('>FedAvg</text>');
    expect(svg).toContain('>Median</text>');

    const summary = await readFile(join(first, 'summary.md'), 'utf8');
    expect(summary).toContain('## tiny-lab');
    expect(summary).toContain('Byzantine: 1 of 3 clients');
    const fedavg = summary.split('\n').find((l) => l.startsWith('| FedAvg |'))!;
    const final = (Number(rows[1].accuracy) * 100).toFixed(2);
    expect(fedavg).toContain(`| 2/2 | ${final}% |`);
    expect(summary).toMatch(/\| round \| FedAvg \| Median \|/);
    expect(summary).toContain('Per class, FedAvg, round 2 (held-out;');
    // --render-only rebuilds the same reports from runs.json.
    const plot = await readFile(join(first, 'plot.svg'), 'utf8');
    await rm(join(first, 'summary.md'));
    await renderResults(config, first);
    expect(await readFile(join(first, 'summary.md'), 'utf8')).toBe(summary);
    expect(await readFile(join(first, 'plot.svg'), 'utf8')).toBe(plot);
    const partitions = (await readFile(join(first, 'partitions.csv'), 'utf8')).trim().split('\n');
    expect(partitions[0]).toBe(
      'client,train_examples,held_out_examples,byzantine,class_0,class_1,class_2,class_3,class_4,class_5,class_6,class_7,class_8,class_9',
    );
    expect(partitions).toHaveLength(4);
  });

  it('stopAtGoal ends a run at the first round reaching the goal, and only then', async () => {
    const base = {
      ...raw,
      byzantine: undefined,
      data: { trainExamples: 90, testExamples: 40 },
      rounds: 3,
      runs: [raw.runs[0]],
    };
    const stopped = await runLab(parseLabConfig({ ...base, goalAccuracy: 0.001, stopAtGoal: true }, 'test'));
    const rows = parseCsv(await readFile(join(stopped, 'rounds.csv'), 'utf8'));
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].accuracy)).toBeGreaterThanOrEqual(0.001);
    expect(await readFile(join(stopped, 'summary.md'), 'utf8')).toContain(
      'stopped after 1 round(s): reached the goal accuracy 0.001 in round 1',
    );
    const unreachable = await runLab(parseLabConfig({ ...base, rounds: 2, goalAccuracy: 1, stopAtGoal: true }, 'test'));
    expect(parseCsv(await readFile(join(unreachable, 'rounds.csv'), 'utf8'))).toHaveLength(2);
  });

  it('refuses configs that name no clients, reuse a label or set numPartitions', () => {
    expect(() => parseLabConfig({ ...raw, clients: 0 }, 'x.json')).toThrow(
      /invalid simulation config \(x\.json\)[\s\S]*clients/,
    );
    expect(() => parseLabConfig({ ...raw, runs: [raw.runs[0], raw.runs[0]] }, 'x.json')).toThrow(
      /run label 'FedAvg' is used twice/,
    );
    expect(() => parseLabConfig({ ...raw, partition: { kind: 'iid', numPartitions: 4 } }, 'x.json')).toThrow(
      /numPartitions is always the number of clients/,
    );
    expect(() => parseLabConfig({ ...raw, partition: { kind: 'dirichlet' } }, 'x.json')).toThrow(/partition/);
    expect(() => parseLabConfig({ ...raw, data: { train: 'fashion-mnist:dev' } }, 'x.json')).toThrow(
      /expected fashion-mnist:train[\s\S]*at data\.train/,
    );
  });

  it('refuses more examples than the data source holds, naming it', async () => {
    await expect(buildPopulation(parseLabConfig({ ...raw, data: { testExamples: 2001 } }, 'x.json'))).rejects.toThrow(
      'data.testExamples is 2001 but mnist:test holds 2000 examples',
    );
  });

  it('refuses a run whose strategy cannot combine with its privacy section before anything runs', async () => {
    const bad = parseLabConfig(
      {
        ...raw,
        runs: [
          raw.runs[0],
          {
            label: 'DP median',
            strategy: { aggregator: { kind: 'median' } },
            privacy: { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 },
          },
        ],
      },
      'x.json',
    );
    await expect(simulate(bad, join(tmpdir(), 'fedserve-lab-never-written'), { progress: silent })).rejects.toThrow(
      /simulation tiny-lab, run 'DP median': aggregator 'median' cannot be used with differential privacy/,
    );
  });

  it('places round-numbered axis ticks', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.91, 0.975)).toEqual([0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97]);
    expect(niceTicks(0.42, 0.93)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(niceTicks(1, 10, 9)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});
