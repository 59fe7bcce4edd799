import type { ProgressStream } from '../../client/progress.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * The lab's progress over all runs: a bar redrawn in place on a terminal (rounds done, the running
 * run, its latest accuracy, elapsed time and an estimate of the rest), one line per round otherwise.
 */
export class LabProgress {
  private done = 0;
  private readonly started = performance.now();
  private run = '';

  constructor(
    private readonly out: ProgressStream,
    private readonly totalRounds: number,
  ) {}

  startRun(label: string, index: number, runs: number): void {
    this.run = label;
    this.line(`run ${index + 1}/${runs}: ${label}`);
  }

  round(record: RoundRecord, roundsPerRun: number): void {
    this.done++;
    const elapsed = performance.now() - this.started;
    const eta =
      this.done < this.totalRounds ? ` ETA ${duration((elapsed / this.done) * (this.totalRounds - this.done))}` : '';
    const accuracy = record.evaluation ? `accuracy ${(record.evaluation.accuracy * 100).toFixed(1)}%` : record.status;
    const epsilon = record.privacy ? ` epsilon ${record.privacy.epsilon.toFixed(2)}` : '';
    const status = `${this.run} round ${record.round}/${roundsPerRun} ${accuracy}${epsilon}, ${duration(record.durationMs)}`;
    if (!this.out.isTTY) {
      this.line(`[${this.done}/${this.totalRounds}] ${status}`);
      return;
    }
    const width = 24;
    const filled = Math.round((width * this.done) / this.totalRounds);
    this.out.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.totalRounds} ${status}, elapsed ${duration(elapsed)}${eta}\x1b[K`,
    );
  }

  /** Rounds a run did not get to (the privacy budget stopped it) count as done. */
  skip(rounds: number): void {
    this.done += rounds;
  }

  line(text: string): void {
    this.out.write(`${this.out.isTTY ? '\r\x1b[K' : `${new Date().toISOString()} `}${text}\n`);
  }
}
