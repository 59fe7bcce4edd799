/**
 * A small SVG line chart: side-by-side panels sharing the x axis (rounds) and one legend, one
 * line per series. Pure string building, no dependencies.
 */

export interface Series {
  name: string;
  /** [x, y] points; missing rounds are simply absent. */
  points: readonly (readonly [number, number])[];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: readonly Series[];
  /** Format of y tick labels, e.g. percentages. */
  formatY?: (y: number) => string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  panels: readonly Panel[];
  panelWidth?: number;
  panelHeight?: number;
}

/** Colour-blind-safe palette (Okabe-Ito), then repeats. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round-numbered ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) throw new Error(`cannot place ticks on [${min}, ${max}]`);
  if (max === min) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  // The round step nearest above 0.7 x the raw one, so a range gets about `count` ticks, never far fewer.
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= 0.7 * raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function extent(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

function formatNumber(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

export function lineChartSvg(options: ChartOptions): string {
  const pw = options.panelWidth ?? 460;
  const ph = options.panelHeight ?? 300;
  const margin = { left: 64, right: 16, top: 56, bottom: 48 };
  const names = [...new Set(options.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const colour = (name: string) => COLOURS[names.indexOf(name) % COLOURS.length];
  const legendRows = Math.ceil(names.length / 3);
  const width = options.panels.length * (pw + margin.left + margin.right);
  const height = ph + margin.top + margin.bottom + 20 * legendRows + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  const allX = options.panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)));
  if (allX.length === 0) throw new Error('nothing to plot: every series is empty');
  const [x0, x1] = extent(allX);
  options.panels.forEach((panel, k) => {
    const left = k * (pw + margin.left + margin.right) + margin.left;
    const top = margin.top;
    const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
    const [lo, hi] = ys.length > 0 ? extent(ys) : [0, 1];
    // A little room so that lines at the extremes do not run along the frame.
    const [y0, y1] = [lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo)];
    const sx = (x: number) => left + ((x - x0) / (x1 - x0)) * pw;
    const sy = (y: number) => top + ph - ((y - y0) / (y1 - y0)) * ph;
    const fmt = panel.formatY ?? formatNumber;
    out.push(
      `<text x="${left + pw / 2}" y="${top - 12}" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    for (const t of niceTicks(y0, y1)) {
      const y = sy(t).toFixed(1);
      out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#e3e3e3"/>`);
      out.push(
        `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`,
      );
    }
    for (const t of niceTicks(x0, x1, Math.min(10, Math.max(1, Math.round(x1 - x0))))) {
      const x = sx(t).toFixed(1);
      out.push(`<line x1="${x}" y1="${top + ph}" x2="${x}" y2="${top + ph + 5}" stroke="#444"/>`);
      out.push(`<text x="${x}" y="${top + ph + 18}" text-anchor="middle">${escapeXml(formatNumber(t))}</text>`);
    }
    out.push(
      `<text x="${left + pw / 2}" y="${top + ph + 38}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
    out.push(
      `<text transform="translate(${left - 48} ${top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
    );
    for (const s of panel.series) {
      const pts = s.points.filter(([, y]) => Number.isFinite(y));
      if (pts.length === 0) continue;
      const path = pts.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      out.push(`<path d="${path}" fill="none" stroke="${colour(s.name)}" stroke-width="2"/>`);
      for (const [x, y] of pts)
        out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${colour(s.name)}"/>`);
    }
  });
  const legendTop = margin.top + ph + margin.bottom + 4;
  const columnWidth = width / 3;
  names.forEach((name, i) => {
    const x = (i % 3) * columnWidth + 20;
    const y = legendTop + Math.floor(i / 3) * 20;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${colour(name)}" stroke-width="3"/>`);
    out.push(`<text x="${x + 30}" y="${y}" dominant-baseline="middle">${escapeXml(name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
