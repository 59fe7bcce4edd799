import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RoundRecordSchema, type RoundRecord } from '../shared/protocol/rounds.js';
import type { Logger } from './logger.js';

/**
 * The record's JSON line once the round log's reader would accept it (RoundRecordSchema), else a
 * clear error: writer and reader check one schema, so nothing written is later skipped.
 */
export function assertLoggable(record: RoundRecord): string {
  const line = JSON.stringify(record);
  const parsed = RoundRecordSchema.safeParse(JSON.parse(line));
  if (parsed.success) return line;
  const issue = parsed.error.issues[0];
  const at = issue.path.length > 0 ? issue.path.join('.') : '(root)';
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], record);
  throw new Error(`round ${record.round}'s record cannot be logged: ${at} is ${String(value)} (${issue.message})`);
}

/**
 * Every closed round (committed or failed), one JSON line each, appended and fsynced: the round
 * history and the round counter survive a restart even when the last rounds failed and so left
 * no checkpoint. A torn last line (crash mid-append) is skipped with a warning.
 */
export class RoundLog {
  /** After a torn write the file does not end in a newline; the next record must not join that line. */
  private tornTail = false;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  async read(): Promise<RoundRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    this.tornTail = text.length > 0 && !text.endsWith('\n');
    const records: RoundRecord[] = [];
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.logger.warn(`round log ${this.path}: line ${i + 1} is not JSON (interrupted write?); skipped`);
        return;
      }
      const result = RoundRecordSchema.safeParse(parsed);
      if (result.success) records.push(result.data);
      else
        this.logger.warn(
          `round log ${this.path}: line ${i + 1} is not a round record (${result.error.issues[0].path.join('.')}: ${result.error.issues[0].message}); skipped`,
        );
    });
    return records;
  }

  /** Appends `record`; rejects, writing nothing, when its reader would not accept it (assertLoggable). */
  async append(record: RoundRecord): Promise<void> {
    const line = assertLoggable(record);
    await mkdir(dirname(this.path), { recursive: true });
    const fh = await open(this.path, 'a');
    try {
      await fh.appendFile(`${this.tornTail ? '\n' : ''}${line}\n`);
      this.tornTail = false;
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
