import { z } from 'zod';
import type { Dataset } from './dataset.js';

/** Parsers for datasets in text formats: shared by the Node data specs and the browser page's file picker. */

function label(value: number, where: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${where}: label ${value} is not a class index (an integer >= 0)`);
  return value;
}

function build(rows: number[][], labels: number[], source: string): Dataset {
  if (rows.length === 0) throw new Error(`${source} has no examples`);
  const f = rows[0].length;
  if (f === 0) throw new Error(`${source}: examples have no features`);
  const x = new Float32Array(rows.length * f);
  rows.forEach((r, i) => x.set(r, i * f));
  const numClasses = Math.max(2, ...labels.map((l) => l + 1));
  return { x, y: Int32Array.from(labels), n: rows.length, inputShape: [f], numClasses };
}

/** A numeric CSV with a header; every column but `labelColumn` is a feature. */
export function parseCsv(text: string, source: string, labelColumn: string): Dataset {
  const lines = text.split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) throw new Error(`${source} is empty; expected a header row and numeric rows`);
  const unquote = (s: string) => s.trim().replace(/^"(.*)"$/, '$1');
  const header = lines[headerIndex].split(',').map(unquote);
  const labelAt = header.indexOf(labelColumn);
  if (labelAt < 0) {
    throw new Error(`${source}: no '${labelColumn}' column in the header (${header.join(', ')}); pass --label-column`);
  }
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const where = `${source} line ${i + 1}`;
    const cells = lines[i].split(',').map(unquote);
    if (cells.length !== header.length)
      throw new Error(`${where} has ${cells.length} fields, the header has ${header.length}`);
    const values = cells.map((c, k) => {
      const v = c === '' ? Number.NaN : Number(c);
      if (!Number.isFinite(v)) throw new Error(`${where}, column '${header[k]}': '${c}' is not a finite number`);
      return v;
    });
    labels.push(label(values[labelAt], where));
    rows.push(values.filter((_, k) => k !== labelAt));
  }
  return build(rows, labels, source);
}

const NestedNumbers: z.ZodType<number | NestedArray> = z.lazy(() => z.union([z.number(), z.array(NestedNumbers)]));
type NestedArray = (number | NestedArray)[];
const JsonLine = z.strictObject({ x: z.array(NestedNumbers).min(1), y: z.number() });

/** One JSON object per line: {"x": numbers (flat or nested), "y": class index}. */
export function parseJsonLines(text: string, source: string): Dataset {
  const rows: number[][] = [];
  const labels: number[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const where = `${source} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch (e) {
      throw new Error(`${where} is not valid JSON: ${(e as Error).message}`);
    }
    const parsed = JsonLine.safeParse(value);
    if (!parsed.success)
      throw new Error(`${where}: expected {"x": [numbers], "y": class index}: ${parsed.error.issues[0].message}`);
    const x = (parsed.data.x as unknown[]).flat(Infinity) as number[];
    const bad = x.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${where}: x[${bad}] is not a finite number`);
    if (rows.length > 0 && x.length !== rows[0].length) {
      throw new Error(`${where}: x has ${x.length} values, earlier lines have ${rows[0].length}`);
    }
    labels.push(label(parsed.data.y, where));
    rows.push(x);
  }
  return build(rows, labels, source);
}
