import { errorMessage } from '../shared/error-message.js';
import type { RoundRecord } from '../shared/protocol/rounds.js';
import { dpDurableRecord } from './dp-surfaces.js';
import type { RoundLog } from './round-log.js';
import { closedRoundLine } from './round/round-record.js';

/**
 * Writes closed rounds out: a log line and the round log, both carrying what the durable record
 * does (with differential privacy on, only what it covers; see dp-surfaces.ts). Appends are
 * chained so records land in order; a failed append is logged, not thrown: the round has closed.
 */
export class RoundLogWriter {
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly roundLog: Pick<RoundLog, 'append'>,
    private readonly privacyOn: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** The record as the round log, checkpoint metadata and log lines keep it. */
  durable(record: RoundRecord): RoundRecord {
    return this.privacyOn ? dpDurableRecord(record) : record;
  }

  /** Logs the closed round and queues its append; `version` is the current one after it. */
  closed(record: RoundRecord, version: number): void {
    const logged = this.durable(record);
    this.log(closedRoundLine(logged, version, this.privacyOn));
    this.writes = this.writes
      .then(() => this.roundLog.append(logged))
      .catch((e: unknown) => {
        this.log(`round ${record.round}: could not append to the round log: ${errorMessage(e)}`);
      });
  }

  /** Settles once every queued append has landed or failed. */
  flushed(): Promise<void> {
    return this.writes;
  }
}
