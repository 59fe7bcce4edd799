import { describe, expect, it } from 'vitest';
import {
  applyMutantEntries,
  describeMutant,
  mutantEntries,
  sourceAt,
  type MutantEntry,
  type ReportFile,
  type ReportMutant,
} from '../../../scripts/mutation/equivalent-entries.js';
import { nodeIgnorer, type IgnorerPath } from '../../../scripts/mutation/equivalent-mutants.js';

// A file as mutation.json holds it; columns are 1-based and the end is exclusive.
const SOURCE = [
  'export function f(a: number, b: number): number {',
  '  if (a < b) return a;',
  '  return a < b ? b : a;',
  '}',
].join('\n');

function mutant(status: string, mutatorName: string, replacement: string, line: number, column: number): ReportMutant {
  // Every mutant here is of an `a < b` (5 characters).
  return { mutatorName, replacement, status, location: { start: { line, column }, end: { line, column: column + 5 } } };
}

const FILE = 'shared/example.ts';

function report(...mutants: ReportMutant[]): Record<string, ReportFile> {
  return { [FILE]: { source: SOURCE, mutants } };
}

const entry = (replacement: string, extra: Partial<MutantEntry> = {}): MutantEntry => ({
  file: FILE,
  code: 'a < b',
  replacement,
  reason: 'because',
  ...extra,
});

describe('per-mutant equivalent entries', () => {
  it('reads the source a mutant replaces, on one line or across lines', () => {
    const lines = SOURCE.split('\n');
    expect(sourceAt(lines, { start: { line: 2, column: 7 }, end: { line: 2, column: 12 } })).toBe('a < b');
    expect(sourceAt(lines, { start: { line: 1, column: 49 }, end: { line: 4, column: 2 } })).toBe(
      '{\n  if (a < b) return a;\n  return a < b ? b : a;\n}',
    );
  });

  it('counts the surviving mutant it names as equivalent and leaves the node’s other mutants alone', () => {
    const survived = mutant('Survived', 'EqualityOperator', 'a <= b', 2, 7);
    const killed = mutant('Killed', 'ConditionalExpression', 'false', 2, 7);
    const uncovered = mutant('NoCoverage', 'EqualityOperator', 'a >= b', 2, 7);
    const applied = applyMutantEntries(report(survived, killed, uncovered), [entry('a <= b'), entry('a >= b')]);
    expect(applied.equivalent.map((m) => m.mutant)).toEqual([survived, uncovered]);
    expect(applied.wrong).toEqual([]);
    expect(applied.stale).toEqual([]);
  });

  it('refuses an entry that names a killed or timed-out mutant', () => {
    const killed = mutant('Killed', 'EqualityOperator', 'a <= b', 2, 7);
    const timeout = mutant('Timeout', 'ConditionalExpression', 'true', 3, 10);
    const applied = applyMutantEntries(report(killed, timeout), [entry('a <= b'), entry('true')]);
    expect(applied.equivalent).toEqual([]);
    expect(applied.wrong.map((m) => m.mutant)).toEqual([killed, timeout]);
    expect(describeMutant(FILE, killed)).toBe('shared/example.ts:2:7 EqualityOperator -> "a <= b"');
  });

  it('matches every node with that source: one of them killed makes the entry wrong', () => {
    const first = mutant('Survived', 'ConditionalExpression', 'true', 2, 7);
    const second = mutant('Killed', 'ConditionalExpression', 'true', 3, 10);
    const applied = applyMutantEntries(report(first, second), [entry('true')]);
    expect(applied.equivalent.map((m) => m.mutant)).toEqual([first]);
    expect(applied.wrong.map((m) => m.mutant)).toEqual([second]);
  });

  it('matches the line too when the entry names one: the other node with that source is not named', () => {
    const first = mutant('Survived', 'ConditionalExpression', 'true', 2, 7);
    const second = mutant('Killed', 'ConditionalExpression', 'true', 3, 10);
    const applied = applyMutantEntries(report(first, second), [entry('true', { line: 2 })]);
    expect(applied.equivalent.map((m) => m.mutant)).toEqual([first]);
    expect(applied.wrong).toEqual([]);
    // Moved code: the entry names no mutant any more and says so.
    const moved = applyMutantEntries(report(first, second), [entry('true', { line: 1 })]);
    expect(moved.equivalent).toEqual([]);
    expect(moved.stale.map((s) => s.why)).toEqual(['no mutant has this code and replacement']);
    // In a line-range run, the entry's own line decides whether it is in scope.
    expect(applyMutantEntries(report(), [entry('true', { line: 2 })], { from: 3, to: 4 }).stale).toEqual([]);
  });

  it('matches the mutator too when the entry names one', () => {
    const m = mutant('Survived', 'EqualityOperator', 'a <= b', 2, 7);
    const applied = applyMutantEntries(report(m), [entry('a <= b', { mutator: 'ConditionalExpression' })]);
    expect(applied.equivalent).toEqual([]);
    expect(applied.stale.map((s) => s.why)).toEqual(['no mutant has this code and replacement']);
    expect(applyMutantEntries(report(m), [entry('a <= b', { mutator: 'EqualityOperator' })]).equivalent).toHaveLength(
      1,
    );
  });

  it('needs the exact source: a mutant of another node with the same replacement is not named', () => {
    const m = mutant('Survived', 'ConditionalExpression', 'true', 2, 7);
    const applied = applyMutantEntries(report(m), [entry('true', { code: 'a<b' })]);
    expect(applied.equivalent).toEqual([]);
    expect(applied.stale).toHaveLength(1);
  });

  it('reports an entry of a file in the run as stale when it names no mutant that ran', () => {
    const ignored = { ...mutant('Ignored', 'EqualityOperator', 'a <= b', 2, 7), statusReason: 'equivalent: node' };
    const applied = applyMutantEntries(report(ignored), [entry('a <= b'), entry('a == b')]);
    expect(applied.equivalent).toEqual([]);
    expect(applied.stale.map((s) => [s.entry.replacement, s.why])).toEqual([
      ['a <= b', 'its mutant was not run (equivalent: node)'],
      ['a == b', 'no mutant has this code and replacement'],
    ]);
  });

  it('leaves entries of files the run did not mutate alone', () => {
    const applied = applyMutantEntries(report(), [entry('a <= b', { file: 'shared/other.ts' })]);
    expect(applied).toEqual({ equivalent: [], wrong: [], stale: [] });
  });

  it('in a line-range run, calls stale only the entries whose code starts within the range', () => {
    const elsewhere = entry('a <= b', { code: 'return a;' });
    expect(applyMutantEntries(report(), [elsewhere], { from: 3, to: 4 }).stale).toEqual([]);
    expect(applyMutantEntries(report(), [elsewhere], { from: 2, to: 2 }).stale).toHaveLength(1);
    // `a < b` starts on lines 2 and 3: a range holding either makes it in scope.
    expect(applyMutantEntries(report(), [entry('a <= b')], { from: 3, to: 4 }).stale).toHaveLength(1);
  });

  it('keeps the per-mutant entries of the config and refuses malformed ones by index', () => {
    const list = [
      { file: FILE, code: 'a < b', reason: 'node-level' },
      { file: FILE, code: 'a < b', replacement: 'a <= b', mutator: 'EqualityOperator', reason: 'one mutant' },
    ];
    expect(mutantEntries(list)).toEqual([
      { file: FILE, code: 'a < b', replacement: 'a <= b', mutator: 'EqualityOperator', reason: 'one mutant' },
    ]);
    expect(() => mutantEntries([...list, { file: FILE, code: 'a < b', replacement: 'x' }])).toThrow(
      /equivalentMutants\[2\].*reason/,
    );
    expect(() => mutantEntries([{ file: FILE, code: 'a < b', mutator: 'EqualityOperator', reason: 'r' }])).toThrow(
      /mutator and line only narrow a per-mutant entry/,
    );
    expect(() => mutantEntries([{ file: FILE, code: 'a < b', line: 2, reason: 'r' }])).toThrow(
      /mutator and line only narrow a per-mutant entry/,
    );
    expect(() => mutantEntries([{ file: FILE, code: 'a < b', replacement: 'x', line: 0, reason: 'r' }])).toThrow(
      /line/,
    );
    expect(() => mutantEntries([{ file: FILE, code: 'a < b', replacment: 'x', reason: 'r' }])).toThrow(/replacment/);
  });
});

describe('node-level equivalent entries (the Stryker ignorer)', () => {
  const path = (filename: string, source: string): IgnorerPath => ({
    hub: { file: { opts: { filename } } },
    getSource: () => source,
  });
  const ignorer = nodeIgnorer([
    { file: FILE, code: 'a < b', reason: 'node-level' },
    { file: FILE, code: 'b < a', replacement: 'b <= a', reason: 'one mutant' },
  ]);

  it('ignores a node-level entry’s node, with its reason', () => {
    expect(ignorer.shouldIgnore(path(`/work/repo/${FILE}`, 'a < b'))).toBe('equivalent: node-level');
  });

  it('leaves a per-mutant entry’s node to Stryker, and other nodes and files alone', () => {
    expect(ignorer.shouldIgnore(path(`/work/repo/${FILE}`, 'b < a'))).toBeUndefined();
    expect(ignorer.shouldIgnore(path(`/work/repo/${FILE}`, 'a <= b'))).toBeUndefined();
    expect(ignorer.shouldIgnore(path('/work/repo/shared/other.ts', 'a < b'))).toBeUndefined();
    expect(ignorer.shouldIgnore(path('/work/repo/not-shared/example.ts', 'a < b'))).toBeUndefined();
  });

  it('refuses an entry without a reason', () => {
    expect(() => nodeIgnorer([{ file: FILE, code: 'a < b', reason: '' }])).toThrow(/needs file, code and reason/);
  });
});
