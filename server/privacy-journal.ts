import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { RoundPrivacyRecordSchema } from '../shared/protocol/rounds.js';
import type { Logger } from './logger.js';

const ChargeSchema = z.object({ round: z.number().int().positive(), privacy: RoundPrivacyRecordSchema });
export type PrivacyCharge = z.infer<typeof ChargeSchema>;

/**
 * Every privacy charge, appended and fsynced in the same tick the ledger is charged in memory, so
 * nothing (the API, a client) can see epsilon that a crash would then forget: a round charged but
 * never committed (killed during its checkpoint write, or failed after aggregation) is charged
 * again from here when the coordinator restarts. A torn last line is skipped.
 */
export class PrivacyJournal {
  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Synchronous on purpose: no event can run between the in-memory charge and this write. */
  record(charge: PrivacyCharge): void {
    const line = JSON.stringify(ChargeSchema.parse(charge));
    const fd = openSync(this.path, 'a', 0o600);
    try {
      // A torn previous line must not swallow this one: start on a fresh line.
      writeSync(fd, `\n${line}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  read(): PrivacyCharge[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const charges: PrivacyCharge[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      let parsed: ReturnType<typeof ChargeSchema.safeParse> | undefined;
      try {
        parsed = ChargeSchema.safeParse(JSON.parse(line));
      } catch {
        // Torn by a crash mid-append: the process died before anything could see that charge.
      }
      if (parsed?.success) charges.push(parsed.data);
      else
        this.logger.warn(`privacy journal ${this.path}: line ${i + 1} is not a charge (interrupted write?); skipped`);
    });
    return charges;
  }
}
