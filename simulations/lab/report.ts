import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { LabConfig } from './config.js';
import type { Population } from './population.js';
import type { RunOutcome } from './run.js';
import { lineChartSvg } from './svg-plot.js';

/** The lab's outputs, pure functions of the config, the population and the runs' round records. */

export const CSV_COLUMNS = [
  'run',
  'strategy',
  'codec',
  'round',
  'status',
  'accuracy',
  'loss',
  'federated_accuracy',
  'federated_loss',
  'train_loss',
  'train_accuracy',
  'clients',
  'examples',
  'duration_s',
  'epsilon',
  'coordinator_epsilon',
  'clip_norm',
  'upload_bytes_per_client',
  'upload_vs_float32',
] as const;

function csvCell(value: string | number | undefined | null): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'number' ? String(Number(value.toPrecision(6))) : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Mean bytes one contributor uploaded in the round (its update, or all its secure-aggregation messages). */
export function uploadPerClient(r: RoundRecord): number | undefined {
  return r.contributions.length > 0 ? r.updateBytes / r.contributions.length : undefined;
}

export function roundRow(
  outcome: Pick<RunOutcome, 'label' | 'strategy' | 'codec' | 'float32UpdateBytes'>,
  r: RoundRecord,
): (string | number | undefined | null)[] {
  const upload = uploadPerClient(r);
  return [
    outcome.label,
    outcome.strategy,
    outcome.codec,
    r.round,
    r.status,
    r.evaluation?.accuracy,
    r.evaluation?.loss,
    r.federatedEvaluation?.accuracy,
    r.federatedEvaluation?.loss,
    r.trainLoss,
    r.trainAccuracy,
    r.contributions.length,
    r.numExamples,
    r.durationMs / 1000,
    r.privacy?.epsilon,
    r.privacy?.coordinatorEpsilon,
    r.privacy?.clipNorm,
    upload,
    upload === undefined || outcome.float32UpdateBytes === undefined ? undefined : upload / outcome.float32UpdateBytes,
  ];
}

/** One line per round of every run, rounds numbered from 1 within each run. */
export function roundsCsv(outcomes: readonly RunOutcome[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const o of outcomes) for (const r of o.records) lines.push(roundRow(o, r).map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

export const CLASS_CSV_COLUMNS = [
  'run',
  'round',
  'evaluation',
  'class',
  'precision',
  'recall',
  'f1',
  'support',
] as const;

/** Per-class metrics of every round: the coordinator's held-out evaluation and the federated one. */
export function classesCsv(outcomes: readonly RunOutcome[]): string {
  const lines: string[] = [CLASS_CSV_COLUMNS.join(',')];
  for (const o of outcomes) {
    for (const r of o.records) {
      const sources = [
        ['held-out', r.evaluation?.perClass],
        ['federated', r.federatedEvaluation?.perClass],
      ] as const;
      for (const [evaluation, classes] of sources) {
        classes?.forEach((m, c) =>
          lines.push([o.label, r.round, evaluation, c, m.precision, m.recall, m.f1, m.support].map(csvCell).join(',')),
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export function partitionsCsv(population: Population): string {
  const classes = population.clients[0]?.classCounts.length ?? 0;
  const header = [
    'client',
    'train_examples',
    'held_out_examples',
    'byzantine',
    ...Array.from({ length: classes }, (_, c) => `class_${c}`),
  ];
  const lines = [header.join(',')];
  for (const c of population.clients) {
    lines.push([c.id, c.train.n, c.heldOut?.n ?? 0, c.attack?.name ?? '', ...c.classCounts].join(','));
  }
  return `${lines.join('\n')}\n`;
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const num = (v: number | undefined, digits = 4) => (v === undefined ? '-' : v.toFixed(digits));

function describePartition(config: LabConfig): string {
  const p = config.partitionConfig;
  switch (p.kind) {
    case 'iid':
      return 'IID';
    case 'dirichlet':
      return `Dirichlet(alpha=${p.alpha}, min partition size ${p.minPartitionSize})`;
    case 'pathological':
      return `pathological (${p.classesPerPartition} classes per client, ${p.classAssignment})`;
    case 'shards':
      return `shards (${p.shardsPerPartition} label-sorted shards per client)`;
    default: {
      const never: never = p;
      throw new Error(`unknown partitioner ${JSON.stringify(never)}`);
    }
  }
}

/** The setup in a few lines: data, partitions, training, attackers. */
export function describeSetup(config: LabConfig, population: Population): string {
  const t = config.training;
  const sizes = population.clients.map((c) => c.train.n);
  const heldOut = population.clients.reduce((s, c) => s + (c.heldOut?.n ?? 0), 0);
  const attackers = population.clients.filter((c) => c.attack);
  const lines = [
    `- Data: ${population.trainExamples.toLocaleString('en-US')} training examples of \`${config.data.train}\` split ${describePartition(config)} ` +
      `between ${config.clients} clients (${Math.min(...sizes)}-${Math.max(...sizes)} training examples each` +
      (heldOut > 0 ? `, ${heldOut} kept back on the clients for federated evaluation` : '') +
      `); ${population.test.n.toLocaleString('en-US')} held-out examples of \`${config.data.test}\` scored on the coordinator after every round.`,
    `- Training: ${config.rounds} rounds, ${t.epochs} local epoch(s), batch ${t.batchSize}, ${t.optimizer} learning rate ${t.learningRate}; seed ${config.seed}.`,
  ];
  if (config.byzantine && attackers.length > 0) {
    const a = config.byzantine.attack;
    const how =
      a.kind === 'sign-flip'
        ? `sign flip (x${a.scale})`
        : a.kind === 'gaussian-noise'
          ? `Gaussian noise (std ${a.std})`
          : `scaling (x${a.factor})`;
    lines.push(
      `- Byzantine: ${attackers.length} of ${config.clients} clients (${attackers.map((c) => c.id).join(', ')}) send ${how} updates.`,
    );
  }
  return lines.join('\n');
}

function firstRoundReaching(records: readonly RoundRecord[], goal: number): number | undefined {
  return records.find((r) => r.evaluation && r.evaluation.accuracy >= goal)?.round;
}

/** Markdown: the setup, one summary row per run, and held-out accuracy by round. */
export function summaryMarkdown(config: LabConfig, population: Population, outcomes: readonly RunOutcome[]): string {
  const goalAccuracy = config.goalAccuracy;
  const anyPrivacy = outcomes.some((o) => o.privacy);
  const anyFederated = outcomes.some((o) => o.records.some((r) => r.federatedEvaluation?.accuracy !== undefined));
  const anyCompression = outcomes.some((o) => o.codec !== 'float32');
  const header = [
    'run',
    'strategy',
    ...(anyCompression ? ['codec', 'upload / client / round', 'vs float32'] : []),
    'rounds',
    'final accuracy',
    'best accuracy (round)',
    'final loss',
    ...(goalAccuracy !== undefined ? [`first round >= ${pct(goalAccuracy)}`] : []),
    ...(anyFederated ? ['federated accuracy'] : []),
    ...(anyPrivacy ? ['epsilon (delta)'] : []),
    'time',
  ];
  const rows = outcomes.map((o) => {
    const committed = o.records.filter((r) => r.status === 'committed');
    const last = committed[committed.length - 1];
    const best = committed.reduce<RoundRecord | undefined>(
      (b, r) => (r.evaluation && (!b?.evaluation || r.evaluation.accuracy > b.evaluation.accuracy) ? r : b),
      undefined,
    );
    const reached = goalAccuracy !== undefined ? firstRoundReaching(committed, goalAccuracy) : undefined;
    const privacy = o.privacy ? `${o.privacy.epsilon.toFixed(2)} (${o.privacy.delta})` : 'no DP';
    const uploads = committed.map(uploadPerClient).filter((b) => b !== undefined);
    const upload = uploads.length > 0 ? uploads.reduce((a, b) => a + b, 0) / uploads.length : undefined;
    return [
      o.label,
      `\`${o.strategy}\``,
      ...(anyCompression
        ? [
            o.codec,
            upload === undefined ? '-' : `${(upload / 1024).toFixed(1)} KiB`,
            upload === undefined || o.float32UpdateBytes === undefined
              ? '-'
              : `${(upload / o.float32UpdateBytes).toFixed(3)}x`,
          ]
        : []),
      `${committed.length}/${config.rounds}`,
      pct(last?.evaluation?.accuracy),
      best?.evaluation ? `${pct(best.evaluation.accuracy)} (${best.round})` : '-',
      num(last?.evaluation?.loss),
      ...(goalAccuracy !== undefined ? [reached === undefined ? 'not reached' : String(reached)] : []),
      ...(anyFederated ? [pct(last?.federatedEvaluation?.accuracy)] : []),
      ...(anyPrivacy ? [privacy] : []),
      `${(o.wallMs / 1000).toFixed(0)} s`,
    ];
  });
  const table = (head: string[], body: string[][]) =>
    [
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...body.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const rounds = Math.max(...outcomes.map((o) => o.records.length), 0);
  const byRound = Array.from({ length: rounds }, (_, i) => [
    String(i + 1),
    ...outcomes.map((o) => {
      const r = o.records[i];
      if (!r) return '';
      return r.status === 'committed' ? pct(r.evaluation?.accuracy) : 'failed';
    }),
  ]);
  const perClass = outcomes.flatMap((o) => {
    const last = [...o.records].reverse().find((r) => r.evaluation?.perClass);
    if (!last) return [];
    const classes = last.evaluation!.perClass!;
    return [
      `Per class, ${o.label}, round ${last.round} (held-out; confusion matrix rows = true class, columns = predicted):`,
      '',
      table(
        ['class', 'precision', 'recall', 'F1', 'support', ...classes.map((_, c) => `→${c}`)],
        classes.map((m, c) => [
          String(c),
          pct(m.precision),
          pct(m.recall),
          pct(m.f1),
          String(m.support),
          ...last.evaluation!.confusion!.map((_, p) => String(last.evaluation!.confusion![c][p])),
        ]),
      ),
      '',
    ];
  });
  const stopped = outcomes
    .filter((o) => o.stoppedEarly)
    .map((o) => `- ${o.label}: stopped after ${o.records.length} round(s): ${o.stoppedEarly}`);
  return [
    `## ${config.name}`,
    '',
    ...(config.description ? [config.description, ''] : []),
    describeSetup(config, population),
    '',
    table(header, rows),
    '',
    ...(stopped.length > 0 ? [...stopped, ''] : []),
    'Held-out accuracy after each round:',
    '',
    table(['round', ...outcomes.map((o) => o.label)], byRound),
    '',
    ...perClass,
  ].join('\n');
}

/** Held-out accuracy and loss against rounds, one line per run. */
export function plotSvg(config: LabConfig, population: Population, outcomes: readonly RunOutcome[]): string {
  const series = (pick: (r: RoundRecord) => number | undefined) =>
    outcomes.map((o) => ({
      name: o.label,
      points: o.records.flatMap((r): [number, number][] => {
        const y = r.status === 'committed' ? pick(r) : undefined;
        return y === undefined ? [] : [[r.round, y]];
      }),
    }));
  return lineChartSvg({
    title: `${config.name}: held-out accuracy and loss by round`,
    xLabel: 'round',
    panels: [
      {
        title: `accuracy (${population.test.n.toLocaleString('en-US')} held-out examples)`,
        yLabel: 'accuracy',
        series: series((r) => r.evaluation?.accuracy),
        formatY: (y) => `${Number((y * 100).toPrecision(3))}%`,
      },
      { title: 'loss (cross-entropy)', yLabel: 'loss', series: series((r) => r.evaluation?.loss) },
      ...(outcomes.some((o) => o.codec !== 'float32')
        ? [{ title: 'upload per client (KiB)', yLabel: 'KiB', series: series((r) => (uploadPerClient(r) ?? 0) / 1024) }]
        : []),
    ],
  });
}
