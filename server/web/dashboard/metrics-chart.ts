import {
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

/**
 * What the chart reads of a round. A full record and both public views have it; the view under
 * differential privacy carries only the held-out evaluation.
 */
export interface ChartRound {
  round: number;
  evaluation?: { accuracy: number; loss: number };
  federatedEvaluation?: { accuracy?: number; loss?: number };
  trainAccuracy?: number;
  trainLoss?: number;
}

/** One chart series: its label, axis, colour and value per committed round. */
interface Series {
  label: string;
  axis: 'accuracy' | 'loss';
  color: string;
  dash?: number[];
  value: (r: ChartRound) => number | undefined;
}

const SERIES: Series[] = [
  { label: 'held-out accuracy', axis: 'accuracy', color: '#2563eb', value: (r) => r.evaluation?.accuracy },
  { label: 'federated accuracy', axis: 'accuracy', color: '#0d9488', value: (r) => r.federatedEvaluation?.accuracy },
  { label: 'client accuracy', axis: 'accuracy', color: '#93c5fd', dash: [5, 4], value: (r) => r.trainAccuracy },
  { label: 'held-out loss', axis: 'loss', color: '#dc2626', value: (r) => r.evaluation?.loss },
  { label: 'federated loss', axis: 'loss', color: '#ea580c', value: (r) => r.federatedEvaluation?.loss },
  { label: 'client loss', axis: 'loss', color: '#fca5a5', dash: [5, 4], value: (r) => r.trainLoss },
];

/**
 * Accuracy (left axis) and loss (right axis) of each committed round: on the coordinator's
 * held-out data, on the clients' held-out splits (federated evaluation), and the
 * example-weighted training metrics the clients reported; each when the round has it.
 */
export class MetricsChart {
  private readonly chart: Chart<'line', (number | null)[], string>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { title: { display: true, text: 'round' } },
          accuracy: { type: 'linear', position: 'left', min: 0, max: 1, title: { display: true, text: 'accuracy' } },
          loss: {
            type: 'linear',
            position: 'right',
            min: 0,
            grid: { drawOnChartArea: false },
            title: { display: true, text: 'loss' },
          },
        },
      },
    });
  }

  /** Redraws from the committed rounds, oldest first; series without any value are left out. */
  update(committed: ChartRound[]): void {
    this.chart.data.labels = committed.map((r) => String(r.round));
    this.chart.data.datasets = SERIES.filter((s) => committed.some((r) => s.value(r) !== undefined)).map((s) => ({
      label: s.label,
      yAxisID: s.axis,
      data: committed.map((r) => s.value(r) ?? null),
      borderColor: s.color,
      backgroundColor: s.color,
      borderDash: s.dash ?? [],
      tension: 0.2,
    }));
    this.chart.update();
  }

  /** Points drawn per series, for tests and kiosks to check what the chart shows. */
  pointCounts(): Record<string, number> {
    return Object.fromEntries(
      this.chart.data.datasets.map((d) => [d.label ?? '', d.data.filter((v) => v !== null).length]),
    );
  }
}
