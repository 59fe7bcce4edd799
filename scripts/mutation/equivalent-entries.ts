/**
 * Per-mutant equivalent entries: stryker.config.mjs `equivalentMutants` entries that name one mutant
 * ({file, code, replacement, reason}, optionally `mutator` and `line`) rather than a whole node. Stryker's
 * ignorers decide per AST node (every mutant of the node and of the nodes inside it), so these are
 * applied to a finished run's mutation.json instead: a surviving mutant they name counts as
 * equivalent, a detected one means the entry is wrong, and an entry naming no mutant is stale.
 */
import { z } from 'zod';

export const EquivalentEntry = z
  .object({
    file: z.string().min(1),
    /** The exact source of the mutated node (for a node-level entry: of the node whose mutants are all equivalent). */
    code: z.string().min(1),
    /** The mutant's replacement as mutation.json reports it; absent, the entry covers the whole node (the ignorer). */
    replacement: z.string().optional(),
    /** Stryker's mutator name (ConditionalExpression, EqualityOperator, ...), when the replacement alone is ambiguous. */
    mutator: z.string().min(1).optional(),
    /**
     * The line the mutated node starts on, when the same source holds a killed mutant elsewhere in
     * the file; if the code moves, the entry turns stale and the mutant survives again (both printed).
     */
    line: z.number().int().min(1).optional(),
    reason: z.string().min(1),
  })
  .strict()
  .refine((e) => (e.mutator === undefined && e.line === undefined) || e.replacement !== undefined, {
    error: 'mutator and line only narrow a per-mutant entry: give the replacement too',
  });
export type EquivalentEntry = z.infer<typeof EquivalentEntry>;

export interface MutantEntry {
  file: string;
  code: string;
  replacement: string;
  mutator?: string;
  line?: number;
  reason: string;
}

/** The per-mutant entries of stryker.config.mjs' list, which is checked whole (a malformed entry names itself). */
export function mutantEntries(list: unknown): MutantEntry[] {
  const parsed = z.array(z.unknown()).parse(list);
  const out: MutantEntry[] = [];
  parsed.forEach((raw, i) => {
    const result = EquivalentEntry.safeParse(raw);
    if (!result.success) {
      const why = result.error.issues.map((issue) => `${issue.path.join('.') || 'entry'}: ${issue.message}`).join('; ');
      throw new Error(`equivalentMutants[${i}] ${JSON.stringify(raw)}: ${why}`);
    }
    const e = result.data;
    if (e.replacement !== undefined)
      out.push({
        file: e.file,
        code: e.code,
        replacement: e.replacement,
        reason: e.reason,
        ...(e.mutator === undefined ? {} : { mutator: e.mutator }),
        ...(e.line === undefined ? {} : { line: e.line }),
      });
  });
  return out;
}

/** Lines and columns as mutation.json gives them: both 1-based, the end exclusive. */
export interface Position {
  line: number;
  column: number;
}

export interface ReportMutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  statusReason?: string;
  location: { start: Position; end: Position };
}

export interface ReportFile {
  source: string;
  mutants: ReportMutant[];
}

/** The source text a mutant replaces. */
export function sourceAt(lines: readonly string[], { start, end }: { start: Position; end: Position }): string {
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  return [
    lines[start.line - 1].slice(start.column - 1),
    ...lines.slice(start.line, end.line - 1),
    lines[end.line - 1].slice(0, end.column - 1),
  ].join('\n');
}

export interface Match {
  file: string;
  mutant: ReportMutant;
  entry: MutantEntry;
}

export interface Applied {
  /** Survived or NoCoverage mutants an entry names: they count as equivalent. */
  equivalent: Match[];
  /** Killed or Timeout mutants an entry names: a test tells them apart, so the entry is wrong. */
  wrong: Match[];
  /** Entries of a file in the run that name no mutant Stryker tested. */
  stale: { entry: MutantEntry; why: string }[];
}

const UNDETECTED = new Set(['Survived', 'NoCoverage']);
const DETECTED = new Set(['Killed', 'Timeout']);

/**
 * Applies the per-mutant entries to one run's report. `lines`, for a `file.ts:FROM-TO` run, are the
 * lines Stryker mutated: an entry of that file is stale only if its code starts within them.
 * A mutant an entry names that did not run (Ignored, CompileError) is neither counted nor an error.
 */
export function applyMutantEntries(
  files: Record<string, ReportFile>,
  entries: readonly MutantEntry[],
  lines?: { from: number; to: number },
): Applied {
  const applied: Applied = { equivalent: [], wrong: [], stale: [] };
  for (const entry of entries) {
    const report = files[entry.file];
    if (report === undefined) continue;
    const sourceLines = report.source.split('\n');
    const named = report.mutants.filter(
      (m) =>
        m.replacement === entry.replacement &&
        (entry.mutator === undefined || m.mutatorName === entry.mutator) &&
        (entry.line === undefined || m.location.start.line === entry.line) &&
        sourceAt(sourceLines, m.location) === entry.code,
    );
    for (const mutant of named) {
      if (UNDETECTED.has(mutant.status)) applied.equivalent.push({ file: entry.file, mutant, entry });
      else if (DETECTED.has(mutant.status)) applied.wrong.push({ file: entry.file, mutant, entry });
    }
    const tested = named.filter((m) => UNDETECTED.has(m.status) || DETECTED.has(m.status));
    if (tested.length > 0 || !inLines(report.source, entry.code, entry.line, lines)) continue;
    const ignored = named.find((m) => m.status === 'Ignored');
    applied.stale.push({
      entry,
      why:
        ignored !== undefined
          ? `its mutant was not run (${ignored.statusReason ?? 'ignored'})`
          : named.length > 0
            ? `its mutant did not compile (${named[0].status})`
            : 'no mutant has this code and replacement',
    });
  }
  return applied;
}

/** Whether `code` starts within the mutated lines (all of them when no range was given). */
function inLines(
  source: string,
  code: string,
  line: number | undefined,
  lines: { from: number; to: number } | undefined,
): boolean {
  if (lines === undefined) return true;
  if (line !== undefined) return line >= lines.from && line <= lines.to;
  for (let at = source.indexOf(code); at !== -1; at = source.indexOf(code, at + 1)) {
    const line = source.slice(0, at).split('\n').length;
    if (line >= lines.from && line <= lines.to) return true;
  }
  return false;
}

/** One line naming a mutant: `file:line:column Mutator -> "replacement"`. */
export function describeMutant(file: string, m: ReportMutant): string {
  return `${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} -> ${JSON.stringify(m.replacement ?? '')}`;
}
